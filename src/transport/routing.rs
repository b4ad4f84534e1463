//! Which topic an event type goes to.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Routes event types to topics by prefix; the longest matching prefix wins and
/// events no rule matches go to `default_topic`.
///
/// ```toml
/// [routing]
/// default_topic = "events"
/// partitions = 8
/// rules = [{ prefix = "order.", topic = "orders", partitions = 16 }]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// Topic for event types no rule matches.
    pub default_topic: String,
    /// Partitions of topics that do not set their own.
    pub partitions: u32,
    /// Prefix rules.
    pub rules: Vec<RouteRule>,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            default_topic: "events".into(),
            partitions: 8,
            rules: Vec::new(),
        }
    }
}

/// Events whose type starts with `prefix` go to `topic`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// Event-type prefix, e.g. `order.`.
    pub prefix: String,
    /// Topic name.
    pub topic: String,
    /// Partition count of this topic (default: `routing.partitions`).
    #[serde(default)]
    pub partitions: Option<u32>,
}

/// A topic the router may send to, with its partition count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedTopic {
    /// Topic name.
    pub name: String,
    /// Partition count.
    pub partitions: u32,
}

/// The compiled routing table.
#[derive(Debug, Clone)]
pub struct Router {
    /// Distinct topics; index 0 is the default topic.
    topics: Vec<RoutedTopic>,
    /// (prefix, index into `topics`), longest prefix first.
    rules: Vec<(String, usize)>,
}

impl Router {
    /// Checks and compiles `config`.
    pub fn new(config: &RoutingConfig) -> Result<Self> {
        check_name("routing.default_topic", &config.default_topic)?;
        check_partitions("routing.partitions", config.partitions)?;
        let mut topics = vec![RoutedTopic {
            name: config.default_topic.clone(),
            partitions: config.partitions,
        }];
        let mut rules = Vec::with_capacity(config.rules.len());
        for (i, rule) in config.rules.iter().enumerate() {
            let key = |field: &str| format!("routing.rules[{i}].{field}");
            if rule.prefix.is_empty() {
                return Err(Error::config(key("prefix"), "must not be empty"));
            }
            check_name(&key("topic"), &rule.topic)?;
            let partitions = rule.partitions.unwrap_or(config.partitions);
            check_partitions(&key("partitions"), partitions)?;
            let index = match topics.iter().position(|t| t.name == rule.topic) {
                Some(index) if topics[index].partitions != partitions => {
                    return Err(Error::config(
                        key("partitions"),
                        format!(
                            "topic `{}` is given {} partitions here and {} elsewhere",
                            rule.topic, partitions, topics[index].partitions
                        ),
                    ))
                }
                Some(index) => index,
                None => {
                    topics.push(RoutedTopic {
                        name: rule.topic.clone(),
                        partitions,
                    });
                    topics.len() - 1
                }
            };
            if rules.iter().any(|(p, _)| *p == rule.prefix) {
                return Err(Error::config(
                    key("prefix"),
                    format!("prefix `{}` appears in two rules", rule.prefix),
                ));
            }
            rules.push((rule.prefix.clone(), index));
        }
        rules.sort_by_key(|rule| std::cmp::Reverse(rule.0.len()));
        Ok(Self { topics, rules })
    }

    /// The topic `event_type` goes to.
    pub fn route(&self, event_type: &str) -> &RoutedTopic {
        &self.topics[self.route_index(event_type)]
    }

    /// The index in [`Router::topics`] of the topic `event_type` goes to.
    pub fn route_index(&self, event_type: &str) -> usize {
        self.rules
            .iter()
            .find(|(prefix, _)| event_type.starts_with(prefix.as_str()))
            .map_or(0, |(_, index)| *index)
    }

    /// Every topic the router can send to.
    pub fn topics(&self) -> &[RoutedTopic] {
        &self.topics
    }
}

/// Checks an Iggy stream or topic name: 1 to 255 of `a-z`, `A-Z`, `0-9`,
/// `-`, `_`, `.`. The error is [`ErrorKind::Config`](crate::ErrorKind::Config)
/// naming config key `key`, so a backend checks the names in its own config
/// section the way the core checks `stream`.
///
/// ```
/// use rustok_iggy::check_name;
///
/// assert!(check_name("stream", "rustok.events-1").is_ok());
/// let err = check_name("plugins.remote.dlq_stream", "dead letters").unwrap_err();
/// assert_eq!(err.context("key"), Some("plugins.remote.dlq_stream"));
/// ```
pub fn check_name(key: &str, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(Error::config(
            key,
            format!("`{name}` is not a valid name: use 1 to 255 of a-z, A-Z, 0-9, `-`, `_`, `.`"),
        ))
    }
}

fn check_partitions(key: &str, partitions: u32) -> Result<()> {
    if (1..=crate::MAX_PARTITIONS).contains(&partitions) {
        Ok(())
    } else {
        Err(Error::config(
            key,
            format!(
                "{partitions} partitions; a topic has 1 to {}",
                crate::MAX_PARTITIONS
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(prefix: &str, topic: &str) -> RouteRule {
        RouteRule {
            prefix: prefix.into(),
            topic: topic.into(),
            partitions: None,
        }
    }

    #[test]
    fn longest_prefix_wins_and_default_catches_the_rest() {
        let router = Router::new(&RoutingConfig {
            rules: vec![rule("order.", "orders"), rule("order.refund.", "refunds")],
            ..RoutingConfig::default()
        })
        .unwrap();
        assert_eq!(router.route("order.created").name, "orders");
        assert_eq!(router.route("order.refund.issued").name, "refunds");
        assert_eq!(router.route("user.created").name, "events");
        assert_eq!(router.topics().len(), 3);
    }

    #[test]
    fn bad_rules_name_their_key() {
        let err = Router::new(&RoutingConfig {
            rules: vec![rule("a.", "ok"), rule("b.", "not ok")],
            ..RoutingConfig::default()
        })
        .unwrap_err();
        assert_eq!(err.context("key"), Some("routing.rules[1].topic"));

        let err = Router::new(&RoutingConfig {
            partitions: 0,
            ..RoutingConfig::default()
        })
        .unwrap_err();
        assert_eq!(err.context("key"), Some("routing.partitions"));
    }
}
