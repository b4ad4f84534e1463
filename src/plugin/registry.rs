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
//!
//! A plugin is a codec, or a backend *family*: a backend and the stores that
//! come with it, built by one factory from one config section.
//! [`Transport::from_config`](crate::Transport::from_config) asks each family
//! named in config once for every part it should build, so an offset store
//! and a DLQ store of the same family next to another backend share what
//! they open.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    sync::Arc,
};

use futures::future::BoxFuture;

use crate::{
    config::PluginConfig, Backend, Codec, DlqStore, Error, ErrorKind, OffsetStore, Result,
    TransportConfig,
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

/// Which parts of a backend family are asked for, or offered.
///
/// A family is a backend and the stores that come with it (the embedded log
/// and its offset and DLQ stores, say), built together from one config
/// section so they can share what they open (a data directory, a
/// connection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wants {
    /// A [`Backend`].
    pub backend: bool,
    /// An [`OffsetStore`].
    pub offsets: bool,
    /// A [`DlqStore`].
    pub dlq: bool,
}

impl Wants {
    /// All three parts.
    pub const ALL: Wants = Wants {
        backend: true,
        offsets: true,
        dlq: true,
    };

    /// Whether `kind` is among them (never for [`PluginKind::Codec`]).
    pub fn has(self, kind: PluginKind) -> bool {
        match kind {
            PluginKind::Backend => self.backend,
            PluginKind::Offsets => self.offsets,
            PluginKind::Dlq => self.dlq,
            PluginKind::Codec => false,
        }
    }
}

/// What a family built. With the backend asked for, the stores are the
/// backend's own ([`Backend::offset_store`], [`Backend::dlq_store`]); asked
/// for alone, they stand next to another family's backend.
#[derive(Default)]
pub struct Parts {
    /// The backend, when it was asked for.
    pub backend: Option<Arc<dyn Backend>>,
    /// The offset store, when asked for (or when it comes with the backend).
    pub offsets: Option<Arc<dyn OffsetStore>>,
    /// The DLQ store, when asked for (or when it comes with the backend).
    pub dlq: Option<Arc<dyn DlqStore>>,
}

impl fmt::Debug for Parts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parts")
            .field(
                "backend",
                &self.backend.as_ref().map(|b| b.name().to_owned()),
            )
            .field(
                "offsets",
                &self.offsets.as_ref().map(|s| s.name().to_owned()),
            )
            .field("dlq", &self.dlq.as_ref().map(|s| s.name().to_owned()))
            .finish()
    }
}

/// Builds the asked-for parts of a backend family from its config section.
pub type FamilyFactory = fn(&PluginConfig, Wants) -> BoxFuture<'static, Result<Parts>>;
/// Builds a codec from its config section.
pub type CodecFactory = fn(&PluginConfig) -> Result<Arc<dyn Codec>>;

/// A registered factory.
#[derive(Clone, Copy)]
pub enum Factory {
    /// Builds a backend family's parts; offers the parts of `offers`.
    Family {
        /// The parts it can build.
        offers: Wants,
        /// Builds them.
        build: FamilyFactory,
    },
    /// Builds a codec.
    Codec(CodecFactory),
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
    /// A backend family named `name` that can build the parts `offers`
    /// (a store-only plugin offers no backend).
    pub const fn family(name: &'static str, offers: Wants, build: FamilyFactory) -> Self {
        Self {
            name,
            factory: Factory::Family { offers, build },
        }
    }
    /// A codec factory named `name`.
    pub const fn codec(name: &'static str, build: CodecFactory) -> Self {
        Self {
            name,
            factory: Factory::Codec(build),
        }
    }

    /// The name config selects it by.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether config can select it for `kind`.
    pub fn offers(&self, kind: PluginKind) -> bool {
        match self.factory {
            Factory::Family { offers, .. } => offers.has(kind),
            Factory::Codec(_) => kind == PluginKind::Codec,
        }
    }

    /// Its factory.
    pub fn factory(&self) -> Factory {
        self.factory
    }
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offers: Vec<String> = PluginKind::ALL
            .into_iter()
            .filter(|k| self.offers(*k))
            .map(|k| k.to_string())
            .collect();
        write!(f, "Plugin(`{}`: {})", self.name, offers.join(", "))
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
            .filter(|p| p.offers(kind))
            .map(|p| p.name)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Every registered plugin name, of any kind, sorted, each once: the
    /// `[plugins.*]` sections a config may have.
    pub fn all_names(&self) -> Vec<&'static str> {
        self.plugins
            .iter()
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
            .filter(|p| p.offers(kind) && p.name == name);
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
            Factory::Family { .. } => Err(wrong_kind(PluginKind::Codec, name)),
        }
    }

    /// Builds the parts `wants` of the family named `name` from its config
    /// section, in one call, so they share what they open. Fails with
    /// [`ErrorKind::Config`] naming the config key of the first part the
    /// family does not offer.
    pub async fn build_family(
        &self,
        name: &str,
        config: &PluginConfig,
        wants: Wants,
    ) -> Result<Parts> {
        let mut build = None;
        for kind in [PluginKind::Backend, PluginKind::Offsets, PluginKind::Dlq] {
            if wants.has(kind) {
                match self.lookup(kind, name)? {
                    Factory::Family { build: b, .. } => build = Some(b),
                    Factory::Codec(_) => return Err(wrong_kind(kind, name)),
                }
            }
        }
        match build {
            Some(build) => build(config, wants).await,
            None => Ok(Parts::default()),
        }
    }

    /// Builds the backend, offset store and DLQ store `config` names, one
    /// [`build_family`](Self::build_family) call per family (`offsets` and
    /// `dlq` default to the backend's family). A store is `None` when its
    /// family offers none (the transport then uses the backend's own).
    pub async fn compose(
        &self,
        config: &TransportConfig,
    ) -> Result<(
        Arc<dyn Backend>,
        Option<Arc<dyn OffsetStore>>,
        Option<Arc<dyn DlqStore>>,
    )> {
        let mut wants: BTreeMap<&str, Wants> = BTreeMap::new();
        wants.entry(&config.backend).or_default().backend = true;
        wants
            .entry(config.offsets.as_deref().unwrap_or(&config.backend))
            .or_default()
            .offsets = true;
        wants
            .entry(config.dlq.as_deref().unwrap_or(&config.backend))
            .or_default()
            .dlq = true;
        let mut composed = Parts::default();
        for (name, wants) in wants {
            let parts = self.build_family(name, &config.plugin(name), wants).await?;
            if wants.backend {
                composed.backend = parts.backend;
            }
            if wants.offsets {
                composed.offsets = parts.offsets;
            }
            if wants.dlq {
                composed.dlq = parts.dlq;
            }
        }
        let backend = composed.backend.ok_or_else(|| {
            Error::config(
                "backend",
                format!("backend `{}` built no backend", config.backend),
            )
        })?;
        Ok((backend, composed.offsets, composed.dlq))
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
