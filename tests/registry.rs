//! The built-in plugins are all registered in a binary that only calls each
//! plugin crate's `link()`.

use rustok_iggy::{PluginKind, Registry};

#[test]
fn built_in_plugins_are_registered_after_link() {
    rustok_iggy_codecs::link();
    rustok_iggy_testkit::link();
    let registry = Registry::from_inventory();
    for (kind, name) in [
        (PluginKind::Codec, "json"),
        (PluginKind::Codec, "postcard"),
        (PluginKind::Backend, "memory"),
        (PluginKind::Offsets, "memory"),
        (PluginKind::Dlq, "memory"),
    ] {
        assert!(
            registry.names(kind).contains(&name),
            "{kind} `{name}` missing from {:?}",
            registry.names(kind)
        );
        assert!(registry.lookup(kind, name).is_ok(), "{kind} `{name}`");
    }
}
