//! Opening the configured store for a command without creating anything.
//!
//! `Transport::from_config` ensures every routed topic exists, and the
//! embedded backend creates its data directory: right for an application,
//! wrong for an operator command pointed at a mistyped path, which would
//! show an empty, freshly created log as if the data were lost. Commands open
//! the store here instead: the data must already be there, and the
//! transport is built over one topic that already exists, so building it
//! creates nothing. What a mutating command creates, it creates itself and
//! says so.

use std::{path::Path, sync::Arc};

use rustok_iggy::{
    Backend, DlqStore, Error, ErrorKind, OffsetStore, Registry, Result, RoutingConfig, TopicInfo,
    Transport, TransportConfig,
};
use rustok_iggy_embedded::{EmbeddedBackend, EmbeddedConfig};

/// The embedded family's plugin name.
const EMBEDDED: &str = "embedded";

/// An opened store whose stream already exists.
pub struct Store {
    /// A transport over the store; its building created nothing.
    pub transport: Transport,
    /// The stream's topics, as they are.
    pub topics: Vec<TopicInfo>,
    /// Where the data is, for messages ("embedded log at ./data").
    pub location: String,
    /// Groups with a committed offset, when the offset store can list them
    /// (the embedded one); `None` otherwise.
    groups: Option<Vec<String>>,
}

impl Store {
    /// Opens the store `config` names. Fails with `NotFound` naming the
    /// place when the embedded data directory or the stream does not exist.
    pub async fn open(config: &TransportConfig) -> Result<Self> {
        let opened = open_parts(config).await?;
        let topics = match opened.backend.list_topics(&config.stream).await {
            Ok(topics) => topics,
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let Some(first) = topics.first() else {
            let _ = opened.backend.shutdown().await;
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "stream `{}` does not exist in the {} (nothing was created; check `stream` and the backend's section of the config)",
                    config.stream, opened.location
                ),
            ));
        };
        let registry = Registry::from_inventory();
        let codec = registry.build_codec(&config.codec, &config.plugin(&config.codec))?;
        // Routed to one topic that exists, with its own partition count:
        // the transport's "ensure every routed topic" is then a no-op.
        let routing = RoutingConfig {
            default_topic: first.topic.topic.clone(),
            partitions: first.partitions,
            rules: Vec::new(),
        };
        let transport = Transport::builder(opened.backend, codec)
            .stream(config.stream.clone())
            .routing(routing)
            .consumer(config.consumer.clone())
            .health(config.health.clone())
            .limits(config.limits.clone())
            .offsets(opened.offsets)
            .dlq(opened.dlq)
            .build()
            .await?;
        Ok(Self {
            transport,
            topics,
            location: opened.location,
            groups: opened.groups,
        })
    }

    /// The topic `name` names: `events`, or `stream/events` as `topology`
    /// prints it. `NotFound` lists the topics that exist.
    pub fn topic(&self, name: &str) -> Result<TopicInfo> {
        let stream = self.transport.stream();
        let topic = match name.split_once('/') {
            Some((s, t)) if s == stream => t,
            Some((s, _)) => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "topic `{name}` is in stream `{s}`, but the config's stream is `{stream}` (set `stream`, or RUSTOK_IGGY__STREAM={s})"
                    ),
                ))
            }
            None => name,
        };
        self.topics
            .iter()
            .find(|t| t.topic.topic == topic)
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "topic `{stream}/{topic}` does not exist in the {}; topics: {}",
                        self.location,
                        self.topic_names()
                    ),
                )
            })
    }

    /// The topics `name` selects: that one, or all.
    pub fn topics_named(&self, name: Option<&str>) -> Result<Vec<TopicInfo>> {
        match name {
            Some(name) => Ok(vec![self.topic(name)?]),
            None => Ok(self.topics.clone()),
        }
    }

    /// Groups with a committed offset, if the offset store can list them.
    pub fn groups(&self) -> Option<&[String]> {
        self.groups.as_deref()
    }

    /// Fails with `NotFound` unless `group` committed an offset on one of
    /// `topics`: a misspelt group would otherwise show as lagging by
    /// everything, or be created by a reset. On an offset store where a
    /// commit of 0 forgets the position (remote), absence proves nothing:
    /// the check passes with a warning.
    pub async fn require_group(&self, group: &str, topics: &[TopicInfo]) -> Result<()> {
        let offsets = self.transport.offset_store();
        for topic in topics {
            for partition in 0..topic.partitions {
                if offsets
                    .load(group, &topic.topic, partition)
                    .await?
                    .is_some()
                {
                    return Ok(());
                }
            }
        }
        if offsets.capabilities().zero_forgets {
            // Iggy's server-side offsets: a group at offset 0 everywhere
            // has no stored position, like a group that never existed.
            tracing::warn!(
                group,
                "cannot tell whether the group exists: the offset store keeps no position for a group at offset 0"
            );
            return Ok(());
        }
        let known = match &self.groups {
            Some(groups) if groups.is_empty() => "; no group has committed offsets".to_owned(),
            Some(groups) => format!("; groups with offsets: {}", groups.join(", ")),
            None => String::new(),
        };
        let on: Vec<String> = topics.iter().map(|t| t.topic.to_string()).collect();
        Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "group `{group}` has no committed offset on {} in the {}{known}",
                on.join(", "),
                self.location
            ),
        ))
    }

    /// Closes the backend.
    pub async fn close(self) -> Result<()> {
        self.transport.shutdown().await.map(|_| ())
    }

    fn topic_names(&self) -> String {
        let names: Vec<&str> = self.topics.iter().map(|t| t.topic.topic.as_str()).collect();
        names.join(", ")
    }
}

/// What a store is made of, before the transport is built over it.
struct Parts {
    backend: Arc<dyn Backend>,
    offsets: Arc<dyn OffsetStore>,
    dlq: Arc<dyn DlqStore>,
    location: String,
    groups: Option<Vec<String>>,
}

/// Opens backend, offset store and DLQ store. The embedded family is opened
/// directly (after checking its directory exists), so its offset store can
/// list groups; other families through the plugin registry.
async fn open_parts(config: &TransportConfig) -> Result<Parts> {
    let family = |name: &Option<String>| name.clone().unwrap_or_else(|| config.backend.clone());
    let (offsets, dlq) = (family(&config.offsets), family(&config.dlq));
    let uses_embedded = [&config.backend, &offsets, &dlq]
        .iter()
        .any(|name| name.as_str() == EMBEDDED);
    let embedded = EmbeddedConfig::from_plugin_config(&config.plugin(EMBEDDED))?;
    if uses_embedded {
        require_embedded_dir(&embedded.data_dir)?;
    }
    let location = if uses_embedded {
        format!("embedded log at {}", embedded.data_dir.display())
    } else {
        format!("`{}` backend", config.backend)
    };
    if [&config.backend, &offsets, &dlq]
        .iter()
        .all(|name| name.as_str() == EMBEDDED)
    {
        let backend = EmbeddedBackend::open(embedded).await?;
        return Ok(Parts {
            groups: Some(backend.offsets().groups()),
            offsets: backend.offsets().clone(),
            dlq: backend.dlq().clone(),
            backend: Arc::new(backend),
            location,
        });
    }
    let (backend, offsets, dlq) = Registry::from_inventory().compose(config).await?;
    Ok(Parts {
        offsets: offsets
            .or_else(|| backend.offset_store())
            .ok_or_else(|| missing("offsets"))?,
        dlq: dlq
            .or_else(|| backend.dlq_store())
            .ok_or_else(|| missing("dlq"))?,
        backend,
        location,
        groups: None,
    })
}

fn missing(what: &str) -> Error {
    Error::config(
        what,
        format!("no {what} store is configured and the backend has none; name one in config"),
    )
}

/// The embedded data directory must exist and hold a log (its `streams`
/// directory, which the backend creates on first open): opening anything
/// else would create a new, empty log there.
fn require_embedded_dir(dir: &Path) -> Result<()> {
    if dir.join("streams").is_dir() {
        return Ok(());
    }
    let what = if dir.exists() {
        "holds no rustok-iggy log"
    } else {
        "does not exist"
    };
    Err(Error::new(
        ErrorKind::NotFound,
        format!(
            "the embedded data directory {} {what} (plugins.embedded.data_dir; nothing was created)",
            dir.display()
        ),
    )
    .with_context("key", "plugins.embedded.data_dir"))
}
