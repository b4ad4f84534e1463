//! The docs agree with what is built: the getting-started example is the
//! compiled `examples/getting_started.rs` with the dependencies the guide
//! lists, one minimum Rust version for every crate, stated in the README.

use std::path::Path;

fn read(relative: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// The fenced block of `lang` that follows `marker` in `text`.
fn block_after<'a>(text: &'a str, marker: &str, lang: &str) -> &'a str {
    let start = text.find(marker).unwrap_or_else(|| panic!("no `{marker}`"));
    let fence = format!("```{lang}\n");
    let open = start + text[start..].find(&fence).unwrap() + fence.len();
    let close = open + text[open..].find("```").unwrap();
    &text[open..close]
}

#[test]
fn the_getting_started_example_is_the_compiled_one_with_the_listed_features() {
    let guide = read("docs/getting-started.md");
    let shown = block_after(&guide, "Publish and consume", "rust,ignore");
    let example = read("cli/examples/getting_started.rs");
    let code = example.split_once("\n\n").map(|(_, code)| code).unwrap();
    assert_eq!(
        shown, code,
        "docs/getting-started.md differs from the compiled example"
    );
    let dependencies = block_after(&guide, "Add the crates", "toml");
    let tokio = dependencies
        .lines()
        .find(|l| l.starts_with("tokio"))
        .unwrap();
    for feature in ["macros", "rt-multi-thread", "signal"] {
        assert!(
            tokio.contains(&format!("\"{feature}\"")),
            "the example needs tokio's `{feature}`: {tokio}"
        );
    }
}

#[test]
fn one_minimum_rust_version_stated_in_the_readme() {
    let workspace = read("Cargo.toml");
    let version = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    for member in [
        "cli",
        "codecs",
        "testkit",
        "server",
        "backends/memory",
        "backends/embedded",
        "backends/remote",
        "examples/msgpack-codec",
    ] {
        let manifest = read(&format!("{member}/Cargo.toml"));
        assert!(
            manifest.contains("rust-version.workspace = true"),
            "{member} does not take the workspace's rust-version"
        );
    }
    let readme = read("README.md");
    assert!(
        readme.contains(&format!("Rust {version} or newer")),
        "README.md does not state the minimum Rust version {version}"
    );
}
