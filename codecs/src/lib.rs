//! # rustok-iggy-codecs
//!
//! The two built-in [`Codec`]s of rustok-iggy, registered by name so that
//! `codec = "json"` or `codec = "postcard"` in a
//! [`TransportConfig`](rustok_iggy::TransportConfig) selects them.
//!
//! | name         | type              | self-describing | for |
//! |--------------|-------------------|-----------------|-----|
//! | `"json"`     | [`JsonCodec`]     | yes             | the default; events any tool can read, schemas that grow |
//! | `"postcard"` | [`PostcardCodec`] | no              | small, fast payloads between services that share the event types |
//!
//! Both promise the same things the [`Codec`] contract asks for:
//!
//! - **Trailing bytes are rejected.** A payload holds exactly one value; anything
//!   after it (other than whitespace, for JSON) is an [`ErrorKind::Codec`] error,
//!   so a truncated or concatenated payload is never half-read.
//! - **No input panics.** Every `serde_json`/`postcard` error becomes an
//!   [`Error`] of kind [`ErrorKind::Codec`] with the codec's name in its
//!   `codec` context and the format's error as its source. Nesting is bounded
//!   (128 levels), so crafted input cannot overflow the stack either. The
//!   consumer runtime sends a payload that fails to decode to the DLQ.
//!
//! ## Schema evolution
//!
//! Each message records the codec that wrote it, so a topic can switch codecs
//! without downtime: old messages are still read with the old one.
//!
//! - **JSON** names every field. A reader ignores fields it does not know and
//!   fills missing ones that are `#[serde(default)]`, so adding an optional field
//!   is safe in both directions; renaming or retyping one is not.
//! - **postcard** writes fields by position, without names or types. Adding,
//!   removing or reordering a field breaks every reader of the other version,
//!   and `#[serde(default)]` does not help. Treat a postcard event type as
//!   frozen: for a new shape, bump the envelope's `schema_version` and have
//!   consumers decode by version (or migrate the topic to JSON). Serde
//!   attributes that vary what is written (`skip_serializing_if`, `flatten`,
//!   untagged enums) and `deserialize_any` types such as `serde_json::Value` do
//!   not work with postcard at all.
//!
//! ## Linking
//!
//! Both codecs register themselves at link time with
//! [`register_plugin!`](rustok_iggy::register_plugin). Call [`link`] once from
//! the binary so the linker keeps this crate:
//!
//! ```
//! use rustok_iggy::{config::PluginConfig, PluginKind, Registry};
//!
//! rustok_iggy_codecs::link();
//! let registry = Registry::from_inventory();
//! let names = registry.names(PluginKind::Codec);
//! assert!(names.contains(&"json") && names.contains(&"postcard"));
//!
//! let codec = registry.build_codec("postcard", &PluginConfig::empty("plugins.postcard"))?;
//! assert_eq!(codec.name(), "postcard");
//! # Ok::<(), rustok_iggy::Error>(())
//! ```
//!
//! Where link-time registration does not run (some embedded and wasm targets),
//! register [`plugins`] explicitly with [`Registry::register`](rustok_iggy::Registry::register).
//!
//! The postcard codec bounds nesting with the core's
//! [`rustok_iggy::depth::DepthGuard`], re-exported here as [`depth`] for
//! codecs of other crates.
//!
//! Neither codec takes options: a `[plugins.json]` or `[plugins.postcard]`
//! section must be empty, and any key in it is a config error naming it.
//!
//! [`Codec`]: rustok_iggy::Codec
//! [`Error`]: rustok_iggy::Error
//! [`ErrorKind::Codec`]: rustok_iggy::ErrorKind::Codec

#![warn(missing_docs)]

/// The core's nesting limit for deserializers (moved there so the core's own
/// MessagePack reader uses it too); this path stays for codec authors.
pub use rustok_iggy::depth;
mod json;
mod postcard_codec;

pub use json::JsonCodec;
pub use postcard_codec::PostcardCodec;
use rustok_iggy::Plugin;

/// Keeps this crate, and with it the registrations of `json` and `postcard`, in
/// the final binary.
///
/// The linker drops a crate that nothing references, and the codecs'
/// link-time registrations ([`register_plugin!`](rustok_iggy::register_plugin))
/// vanish with it: [`Registry::from_inventory`](rustok_iggy::Registry::from_inventory)
/// would then not know `"json"` or `"postcard"`, and a transport configured with
/// them would fail with "unknown codec". Calling this function once from the
/// binary (typically at the top of `main`) references the crate. It does
/// nothing else, and calling it again is harmless.
///
/// ```
/// rustok_iggy_codecs::link();
/// ```
pub fn link() {}

/// Both codecs' registrations, for
/// [`Registry::register`](rustok_iggy::Registry::register) where link-time
/// registration does not run. Do not also rely on [`link`] in the same registry,
/// or each name is registered twice and lookups of it fail.
///
/// ```
/// use rustok_iggy::{PluginKind, Registry};
///
/// let mut registry = Registry::empty();
/// for plugin in rustok_iggy_codecs::plugins() {
///     registry.register(plugin);
/// }
/// assert_eq!(registry.names(PluginKind::Codec), vec!["json", "postcard"]);
/// ```
pub fn plugins() -> [Plugin; 2] {
    [JsonCodec::PLUGIN, PostcardCodec::PLUGIN]
}
