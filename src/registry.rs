//! Link-time plugin registration and lookup by name.
//!
//! Every plugin crate submits a [`Plugin`] with [`register_plugin!`] (which is
//! `inventory::submit!`), and [`Registry::from_inventory`] collects them all.
//! Where `inventory` does not run (some embedded and wasm targets) or a plugin is
//! built in a test, [`Registry::register`] adds one explicitly.
//!
//! A crate nothing references is not linked, and its registrations vanish with
//! it: each plugin crate therefore exports a `link()` function that the binary
//! calls once (or the binary writes `use plugin_crate as _;`).

use std::{collections::BTreeSet, fmt, sync::Arc};

use futures::future::BoxFuture;

use crate::{
    config::PluginConfig, Backend, Codec, DlqStore, Error, ErrorKind, OffsetStore, Result,
};

/// The four kinds of plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PluginKind {
    /// A [`Backend`].
    Backend,
    /// A [`Codec`].
    Codec,
    /// An [`OffsetStore`].
    Offsets,
    /// A [`DlqStore`].
    Dlq,
}

impl PluginKind {
    /// Every kind.
    pub const ALL: [PluginKind; 4] = [
        PluginKind::Backend,
        PluginKind::Codec,
        PluginKind::Offsets,
        PluginKind::Dlq,
    ];

    /// The config key that selects a plugin of this kind.
    pub fn config_key(self) -> &'static str {
        match self {
            PluginKind::Backend => "backend",
            PluginKind::Codec => "codec",
            PluginKind::Offsets => "offsets",
            PluginKind::Dlq => "dlq",
        }
    }
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginKind::Backend => "backend",
            PluginKind::Codec => "codec",
            PluginKind::Offsets => "offset store",
            PluginKind::Dlq => "DLQ store",
        })
    }
}

/// What a factory gets besides its own config section.
#[derive(Clone)]
pub struct BuildContext {
    /// The stream the transport works in.
    pub stream: String,
    /// The backend, once built (offset and DLQ stores may live in it).
    pub backend: Option<Arc<dyn Backend>>,
}

/// Builds a backend from its config section.
pub type BackendFactory =
    fn(&PluginConfig, &BuildContext) -> BoxFuture<'static, Result<Arc<dyn Backend>>>;
/// Builds a codec from its config section.
pub type CodecFactory = fn(&PluginConfig) -> Result<Arc<dyn Codec>>;
/// Builds an offset store from its config section.
pub type OffsetsFactory = fn(&PluginConfig, &BuildContext) -> Result<Arc<dyn OffsetStore>>;
/// Builds a DLQ store from its config section.
pub type DlqFactory = fn(&PluginConfig, &BuildContext) -> Result<Arc<dyn DlqStore>>;

/// A factory of one of the four kinds.
#[derive(Clone, Copy)]
pub enum Factory {
    /// Builds a backend.
    Backend(BackendFactory),
    /// Builds a codec.
    Codec(CodecFactory),
    /// Builds an offset store.
    Offsets(OffsetsFactory),
    /// Builds a DLQ store.
    Dlq(DlqFactory),
}

/// A named factory, as registered.
///
/// ```
/// use std::sync::Arc;
/// use rustok_iggy::{config::PluginConfig, Codec, Error, ErrorKind, Plugin, Registry, Result};
///
/// fn build(_config: &PluginConfig) -> Result<Arc<dyn Codec>> {
///     // A real factory reads its section and builds the codec here.
///     Err(Error::new(ErrorKind::Unsupported, "not built in this example"))
/// }
///
/// // In a plugin crate: `rustok_iggy::register_plugin!(Plugin::codec("mine", build));`
/// let mut registry = Registry::empty();
/// registry.register(Plugin::codec("mine", build));
/// assert_eq!(registry.names(rustok_iggy::PluginKind::Codec), vec!["mine"]);
/// ```
#[derive(Clone, Copy)]
pub struct Plugin {
    name: &'static str,
    factory: Factory,
}

impl Plugin {
    /// A backend factory named `name`.
    pub const fn backend(name: &'static str, build: BackendFactory) -> Self {
        Self {
            name,
            factory: Factory::Backend(build),
        }
    }
    /// A codec factory named `name`.
    pub const fn codec(name: &'static str, build: CodecFactory) -> Self {
        Self {
            name,
            factory: Factory::Codec(build),
        }
    }
    /// An offset-store factory named `name`.
    pub const fn offsets(name: &'static str, build: OffsetsFactory) -> Self {
        Self {
            name,
            factory: Factory::Offsets(build),
        }
    }
    /// A DLQ-store factory named `name`.
    pub const fn dlq(name: &'static str, build: DlqFactory) -> Self {
        Self {
            name,
            factory: Factory::Dlq(build),
        }
    }

    /// The name config selects it by.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its kind.
    pub fn kind(&self) -> PluginKind {
        match self.factory {
            Factory::Backend(_) => PluginKind::Backend,
            Factory::Codec(_) => PluginKind::Codec,
            Factory::Offsets(_) => PluginKind::Offsets,
            Factory::Dlq(_) => PluginKind::Dlq,
        }
    }

    /// Its factory.
    pub fn factory(&self) -> Factory {
        self.factory
    }
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plugin({} `{}`)", self.kind(), self.name)
    }
}

inventory::collect!(Plugin);

/// Registers a [`Plugin`] at link time.
///
/// ```
/// use std::sync::Arc;
/// use rustok_iggy::{config::PluginConfig, Codec, Error, ErrorKind, Plugin, PluginKind, Registry, Result};
///
/// fn build_msgpack(_config: &PluginConfig) -> Result<Arc<dyn Codec>> {
///     // A real factory parses its section and builds the codec.
///     Err(Error::new(ErrorKind::Unsupported, "not built in this example"))
/// }
///
/// rustok_iggy::register_plugin!(Plugin::codec("msgpack", build_msgpack));
///
/// fn main() {
///     assert!(Registry::from_inventory().names(PluginKind::Codec).contains(&"msgpack"));
/// }
/// ```
#[macro_export]
macro_rules! register_plugin {
    ($plugin:expr) => {
        $crate::__private::inventory::submit! { $plugin }
    };
}

/// The plugins a transport can be composed from.
#[derive(Clone, Default)]
pub struct Registry {
    plugins: Vec<Plugin>,
}

impl Registry {
    /// No plugins.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Every plugin registered with [`register_plugin!`] in crates linked into
    /// this binary.
    pub fn from_inventory() -> Self {
        Self {
            plugins: inventory::iter::<Plugin>.into_iter().copied().collect(),
        }
    }

    /// Adds a plugin. A second plugin of the same kind and name makes lookups of
    /// that name fail, rather than silently picking one.
    pub fn register(&mut self, plugin: Plugin) -> &mut Self {
        self.plugins.push(plugin);
        self
    }

    /// Registered names of `kind`, sorted, each once.
    pub fn names(&self, kind: PluginKind) -> Vec<&'static str> {
        self.plugins
            .iter()
            .filter(|p| p.kind() == kind)
            .map(|p| p.name)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// The factory of `kind` named `name`.
    ///
    /// Fails with [`ErrorKind::Config`] naming the config key and listing the
    /// registered names when there is none, and when there are two.
    pub fn lookup(&self, kind: PluginKind, name: &str) -> Result<Factory> {
        let mut found = self
            .plugins
            .iter()
            .filter(|p| p.kind() == kind && p.name == name);
        match (found.next(), found.next()) {
            (Some(plugin), None) => Ok(plugin.factory),
            (Some(_), Some(_)) => Err(Error::config(
                kind.config_key(),
                format!(
                    "{kind} `{name}` is registered more than once; link only one crate that provides it"
                ),
            )),
            (None, _) => {
                let names = self.names(kind);
                let listed = if names.is_empty() {
                    "none is registered (did the binary call the plugin crates' `link()`?)"
                        .to_owned()
                } else {
                    format!("registered: {}", names.join(", "))
                };
                Err(Error::config(
                    kind.config_key(),
                    format!("unknown {kind} `{name}`; {listed}"),
                ))
            }
        }
    }

    /// Builds the codec named `name` from its config section.
    pub fn build_codec(&self, name: &str, config: &PluginConfig) -> Result<Arc<dyn Codec>> {
        match self.lookup(PluginKind::Codec, name)? {
            Factory::Codec(build) => build(config),
            _ => Err(wrong_kind(PluginKind::Codec, name)),
        }
    }

    /// Builds the backend named `name` from its config section.
    pub async fn build_backend(
        &self,
        name: &str,
        config: &PluginConfig,
        context: &BuildContext,
    ) -> Result<Arc<dyn Backend>> {
        match self.lookup(PluginKind::Backend, name)? {
            Factory::Backend(build) => build(config, context).await,
            _ => Err(wrong_kind(PluginKind::Backend, name)),
        }
    }

    /// Builds the offset store named `name` from its config section.
    pub fn build_offsets(
        &self,
        name: &str,
        config: &PluginConfig,
        context: &BuildContext,
    ) -> Result<Arc<dyn OffsetStore>> {
        match self.lookup(PluginKind::Offsets, name)? {
            Factory::Offsets(build) => build(config, context),
            _ => Err(wrong_kind(PluginKind::Offsets, name)),
        }
    }

    /// Builds the DLQ store named `name` from its config section.
    pub fn build_dlq(
        &self,
        name: &str,
        config: &PluginConfig,
        context: &BuildContext,
    ) -> Result<Arc<dyn DlqStore>> {
        match self.lookup(PluginKind::Dlq, name)? {
            Factory::Dlq(build) => build(config, context),
            _ => Err(wrong_kind(PluginKind::Dlq, name)),
        }
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.plugins).finish()
    }
}

fn wrong_kind(kind: PluginKind, name: &str) -> Error {
    // `lookup` filters by kind, so this only guards against a broken Plugin value.
    Error::new(
        ErrorKind::Config,
        format!("plugin `{name}` is not a {kind}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(_: &PluginConfig) -> Result<Arc<dyn Codec>> {
        Err(Error::new(ErrorKind::Unsupported, "test factory"))
    }

    #[test]
    fn unknown_names_list_what_is_registered() {
        let mut r = Registry::empty();
        r.register(Plugin::codec("json", codec))
            .register(Plugin::codec("postcard", codec));
        let err = r.lookup(PluginKind::Codec, "yaml").err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(err.context("key"), Some("codec"));
        assert!(
            err.message().contains("registered: json, postcard"),
            "{err}"
        );

        let err = r.lookup(PluginKind::Backend, "memory").err().unwrap();
        assert!(err.message().contains("none is registered"), "{err}");
    }

    #[test]
    fn duplicates_are_rejected_at_lookup() {
        let mut r = Registry::empty();
        r.register(Plugin::codec("json", codec))
            .register(Plugin::codec("json", codec));
        assert_eq!(r.names(PluginKind::Codec), vec!["json"]);
        let err = r.lookup(PluginKind::Codec, "json").err().unwrap();
        assert!(err.message().contains("more than once"), "{err}");
    }
}
