//! Stable numeric ids for streams, topics and consumer groups.
//!
//! Iggy addresses resources by numeric id or by name; the core knows names
//! only. The catalog hands out ids per level (streams; topics of a stream;
//! groups of a topic), from 0, in order of first sight, and never reuses one.
//! Topics the backend already holds are learned in name order, so the same
//! backend yields the same ids. With a catalog file the ids (and streams
//! without topics, which a backend cannot hold) survive restarts exactly; the
//! file is rewritten (temp file, then rename) after every change.

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard},
    time::{SystemTime, UNIX_EPOCH},
};

use iggy_binary_protocol::WireIdentifier;
use serde::{Deserialize, Serialize};

use crate::error::{Result, ServerError};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Data {
    next_stream_id: u32,
    streams: Vec<StreamEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StreamEntry {
    id: u32,
    name: String,
    created_at: u64,
    next_topic_id: u32,
    topics: Vec<TopicEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TopicEntry {
    id: u32,
    name: String,
    created_at: u64,
    next_group_id: u32,
    groups: Vec<GroupEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GroupEntry {
    id: u32,
    name: String,
}

/// A stream known to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamIds {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) created_at: u64,
}

/// A topic known to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicIds {
    pub(crate) id: u32,
    pub(crate) name: String,
    pub(crate) created_at: u64,
}

/// A consumer group known to the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupIds {
    pub(crate) id: u32,
    pub(crate) name: String,
}

/// The id ↔ name map, optionally persisted.
#[derive(Debug)]
pub(crate) struct Catalog {
    data: Mutex<Data>,
    path: Option<PathBuf>,
}

fn matches(id: &WireIdentifier, entry_id: u32, entry_name: &str) -> bool {
    match id {
        WireIdentifier::Numeric(n) => *n == entry_id,
        WireIdentifier::String(name) => name.as_str() == entry_name,
    }
}

pub(crate) fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Catalog {
    /// Loads the catalog file if there is one (a missing file is an empty
    /// catalog), then adds `streams` that are not in it yet.
    pub(crate) fn open(path: Option<PathBuf>, streams: &[String]) -> Result<Self> {
        let data = match &path {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path)?;
                serde_json::from_str(&text).map_err(|e| {
                    ServerError::Config(format!(
                        "catalog file {} is not valid: {e}",
                        path.display()
                    ))
                })?
            }
            _ => Data::default(),
        };
        let catalog = Self {
            data: Mutex::new(data),
            path,
        };
        for name in streams {
            catalog.add_stream(name)?;
        }
        Ok(catalog)
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        // Every update below is a push or a remove: the data stays consistent.
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, data: &Data) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        write_atomically(path, data)
    }

    /// Every stream, by id.
    pub(crate) fn streams(&self) -> Vec<StreamIds> {
        let mut streams: Vec<StreamIds> = self
            .lock()
            .streams
            .iter()
            .map(|s| StreamIds {
                id: s.id,
                name: s.name.clone(),
                created_at: s.created_at,
            })
            .collect();
        streams.sort_by_key(|s| s.id);
        streams
    }

    /// The stream `id` names, if known.
    pub(crate) fn stream(&self, id: &WireIdentifier) -> Option<StreamIds> {
        self.lock()
            .streams
            .iter()
            .find(|s| matches(id, s.id, &s.name))
            .map(|s| StreamIds {
                id: s.id,
                name: s.name.clone(),
                created_at: s.created_at,
            })
    }

    /// Adds a stream unless one of that name exists; returns it and whether
    /// it was new.
    pub(crate) fn add_stream(&self, name: &str) -> Result<(StreamIds, bool)> {
        let mut data = self.lock();
        if let Some(s) = data.streams.iter().find(|s| s.name == name) {
            return Ok((
                StreamIds {
                    id: s.id,
                    name: s.name.clone(),
                    created_at: s.created_at,
                },
                false,
            ));
        }
        let id = data.next_stream_id;
        data.next_stream_id = id.saturating_add(1);
        let created_at = now_micros();
        data.streams.push(StreamEntry {
            id,
            name: name.to_owned(),
            created_at,
            next_topic_id: 0,
            topics: Vec::new(),
        });
        self.save(&data)?;
        Ok((
            StreamIds {
                id,
                name: name.to_owned(),
                created_at,
            },
            true,
        ))
    }

    /// Forgets a stream (its id is not reused).
    pub(crate) fn remove_stream(&self, stream_id: u32) -> Result<()> {
        let mut data = self.lock();
        data.streams.retain(|s| s.id != stream_id);
        self.save(&data)
    }

    /// Forgets a topic and its groups (its id is not reused).
    pub(crate) fn remove_topic(&self, stream_id: u32, topic_id: u32) -> Result<()> {
        let mut data = self.lock();
        let Some(stream) = data.streams.iter_mut().find(|s| s.id == stream_id) else {
            return Ok(());
        };
        let before = stream.topics.len();
        stream.topics.retain(|t| t.id != topic_id);
        if stream.topics.len() == before {
            return Ok(());
        }
        self.save(&data)
    }

    /// Learns topics the backend holds: unknown names get ids in the order
    /// given (callers pass them sorted by name).
    pub(crate) fn learn_topics(&self, stream_id: u32, names: &[String]) -> Result<()> {
        let mut data = self.lock();
        let Some(stream) = data.streams.iter_mut().find(|s| s.id == stream_id) else {
            return Ok(());
        };
        let mut changed = false;
        for name in names {
            if stream.topics.iter().any(|t| &t.name == name) {
                continue;
            }
            let id = stream.next_topic_id;
            stream.next_topic_id = id.saturating_add(1);
            stream.topics.push(TopicEntry {
                id,
                name: name.clone(),
                created_at: now_micros(),
                next_group_id: 0,
                groups: Vec::new(),
            });
            changed = true;
        }
        if changed {
            self.save(&data)?;
        }
        Ok(())
    }

    /// The topic `id` names in a stream, if known.
    pub(crate) fn topic(&self, stream_id: u32, id: &WireIdentifier) -> Option<TopicIds> {
        self.lock()
            .streams
            .iter()
            .find(|s| s.id == stream_id)?
            .topics
            .iter()
            .find(|t| matches(id, t.id, &t.name))
            .map(|t| TopicIds {
                id: t.id,
                name: t.name.clone(),
                created_at: t.created_at,
            })
    }

    /// The topics of a stream, by id.
    pub(crate) fn topics(&self, stream_id: u32) -> Vec<TopicIds> {
        let mut topics: Vec<TopicIds> = self
            .lock()
            .streams
            .iter()
            .find(|s| s.id == stream_id)
            .map(|s| {
                s.topics
                    .iter()
                    .map(|t| TopicIds {
                        id: t.id,
                        name: t.name.clone(),
                        created_at: t.created_at,
                    })
                    .collect()
            })
            .unwrap_or_default();
        topics.sort_by_key(|t| t.id);
        topics
    }

    /// The groups of a topic, by id.
    pub(crate) fn groups(&self, stream_id: u32, topic_id: u32) -> Vec<GroupIds> {
        let data = self.lock();
        let mut groups: Vec<GroupIds> = data
            .streams
            .iter()
            .find(|s| s.id == stream_id)
            .and_then(|s| s.topics.iter().find(|t| t.id == topic_id))
            .map(|t| {
                t.groups
                    .iter()
                    .map(|g| GroupIds {
                        id: g.id,
                        name: g.name.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        groups.sort_by_key(|g| g.id);
        groups
    }

    /// The group `id` names on a topic, if known.
    pub(crate) fn group(
        &self,
        stream_id: u32,
        topic_id: u32,
        id: &WireIdentifier,
    ) -> Option<GroupIds> {
        self.groups(stream_id, topic_id)
            .into_iter()
            .find(|g| matches(id, g.id, &g.name))
    }

    /// Adds a group; `None` if the topic is unknown, `Some((group, false))`
    /// if one of that name exists.
    pub(crate) fn add_group(
        &self,
        stream_id: u32,
        topic_id: u32,
        name: &str,
    ) -> Result<Option<(GroupIds, bool)>> {
        let mut data = self.lock();
        let Some(topic) = data
            .streams
            .iter_mut()
            .find(|s| s.id == stream_id)
            .and_then(|s| s.topics.iter_mut().find(|t| t.id == topic_id))
        else {
            return Ok(None);
        };
        if let Some(g) = topic.groups.iter().find(|g| g.name == name) {
            return Ok(Some((
                GroupIds {
                    id: g.id,
                    name: g.name.clone(),
                },
                false,
            )));
        }
        let id = topic.next_group_id;
        topic.next_group_id = id.saturating_add(1);
        topic.groups.push(GroupEntry {
            id,
            name: name.to_owned(),
        });
        self.save(&data)?;
        Ok(Some((
            GroupIds {
                id,
                name: name.to_owned(),
            },
            true,
        )))
    }

    /// Forgets a group.
    pub(crate) fn remove_group(&self, stream_id: u32, topic_id: u32, group_id: u32) -> Result<()> {
        let mut data = self.lock();
        if let Some(topic) = data
            .streams
            .iter_mut()
            .find(|s| s.id == stream_id)
            .and_then(|s| s.topics.iter_mut().find(|t| t.id == topic_id))
        {
            topic.groups.retain(|g| g.id != group_id);
        }
        self.save(&data)
    }
}

fn write_atomically(path: &Path, data: &Data) -> Result<()> {
    let text = serde_json::to_vec_pretty(data)
        .map_err(|e| ServerError::Config(format!("cannot serialize the catalog: {e}")))?;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_survive_a_reopen() {
        let dir = std::env::temp_dir().join(format!("rustok-iggy-catalog-{}", now_micros()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("catalog.json");
        let catalog = Catalog::open(Some(path.clone()), &["app".to_owned()]).unwrap();
        let (other, new) = catalog.add_stream("other").unwrap();
        assert!(new);
        assert_eq!(other.id, 1);
        catalog
            .learn_topics(0, &["a".to_owned(), "b".to_owned()])
            .unwrap();
        catalog.learn_topics(0, &["0-first".to_owned()]).unwrap();
        let (group, _) = catalog.add_group(0, 1, "billing").unwrap().unwrap();
        drop(catalog);

        let catalog = Catalog::open(Some(path), &[]).unwrap();
        let app = catalog.stream(&WireIdentifier::numeric(0)).unwrap();
        assert_eq!(app.name, "app");
        let b = catalog
            .topic(0, &WireIdentifier::named("b").unwrap())
            .unwrap();
        assert_eq!(b.id, 1);
        assert_eq!(
            catalog.topic(0, &WireIdentifier::numeric(2)).unwrap().name,
            "0-first"
        );
        assert_eq!(
            catalog.group(0, 1, &WireIdentifier::numeric(group.id)),
            Some(group)
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
