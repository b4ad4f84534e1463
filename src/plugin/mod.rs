//! For plugin authors: the traits a codec or a store implements, and the
//! registry that composes plugins from config. The backend trait, the
//! biggest of them, has a module of its own (`backend`).

mod codec;
pub mod depth;
mod dlq;
mod log_dlq;
mod offsets;
mod registry;

pub use codec::{Codec, CodecCapabilities, CodecExt, DecodeSink};
pub use dlq::{DeadLetter, DlqCapabilities, DlqEntry, DlqFilter, DlqPage, DlqStore, LetterSource};
pub use log_dlq::{DlqLog, LogDlqStore, DEFAULT_DLQ_STREAM};
pub use offsets::{OffsetCapabilities, OffsetStore};
pub use registry::{
    CodecFactory, Factory, FamilyFactory, Parts, Plugin, PluginKind, Registry, Wants,
};

#[cfg(any(test, feature = "mocks"))]
pub use codec::MockCodec;
#[cfg(any(test, feature = "mocks"))]
pub use dlq::MockDlqStore;
#[cfg(any(test, feature = "mocks"))]
pub use offsets::MockOffsetStore;
