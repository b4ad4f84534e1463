//! The codecs register themselves by name and build from their config section.

use rustok_iggy::{config::PluginConfig, ErrorKind, PluginKind, Registry, TransportConfig};

fn registry() -> Registry {
    rustok_iggy_codecs::link();
    Registry::from_inventory()
}

#[test]
fn link_registers_json_and_postcard() {
    let registry = registry();
    let names = registry.names(PluginKind::Codec);
    assert!(names.contains(&"json"), "{names:?}");
    assert!(names.contains(&"postcard"), "{names:?}");

    for (name, self_describing) in [("json", true), ("postcard", false)] {
        let codec = registry
            .build_codec(name, &PluginConfig::empty(format!("plugins.{name}")))
            .unwrap();
        assert_eq!(codec.name(), name);
        assert_eq!(codec.capabilities().self_describing, self_describing);
    }
}

#[test]
fn builds_from_a_transport_config() {
    let config = TransportConfig::from_toml("codec = \"postcard\"\n[plugins.postcard]\n").unwrap();
    let codec = registry()
        .build_codec(&config.codec, &config.plugin(&config.codec))
        .unwrap();
    assert_eq!(codec.name(), "postcard");
}

#[test]
fn explicit_registration_matches_inventory() {
    let mut registry = Registry::empty();
    for plugin in rustok_iggy_codecs::plugins() {
        registry.register(plugin);
    }
    assert_eq!(registry.names(PluginKind::Codec), vec!["json", "postcard"]);
    assert!(registry
        .build_codec("json", &PluginConfig::empty("plugins.json"))
        .is_ok());
}

#[test]
fn a_typo_in_a_codec_section_is_a_config_error_naming_the_key() {
    for name in ["json", "postcard"] {
        let config = TransportConfig::from_toml(&format!(
            "codec = \"{name}\"\n[plugins.{name}]\npretty = true\n"
        ))
        .unwrap();
        let err = registry()
            .build_codec(name, &config.plugin(name))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert_eq!(
            err.context("key"),
            Some(format!("plugins.{name}.pretty").as_str()),
            "{err}"
        );
        assert!(err.to_string().contains("unknown field `pretty`"), "{err}");
    }
}
