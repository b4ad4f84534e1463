//! Helpers shared by the workspace-level integration tests.

#![allow(dead_code)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use rustok_iggy::{Delivery, EventEnvelope, Handler, HandlerError, Subscription};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The event the integration tests publish: its position among its key's events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Numbered {
    pub key_seq: u64,
}

/// Every delivery a subscription made, in the order handlers ran.
#[derive(Default)]
pub struct Recorder {
    pub deliveries: Mutex<Vec<(Uuid, Uuid, u64)>>,
}

#[async_trait::async_trait]
impl Handler<Numbered> for Recorder {
    async fn handle(
        &self,
        envelope: EventEnvelope<Numbered>,
        _: &Delivery,
    ) -> Result<(), HandlerError> {
        self.deliveries
            .lock()
            .map_err(|_| HandlerError::transient("poisoned"))?
            .push((envelope.id, envelope.tenant_id, envelope.event.key_seq));
        Ok(())
    }
}

impl Recorder {
    /// Distinct event ids delivered.
    pub fn unique(&self) -> usize {
        let d = self.deliveries.lock().unwrap();
        d.iter()
            .map(|(id, _, _)| *id)
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    /// Checks per-key order under at-least-once: the first delivery of each
    /// event comes after the first delivery of every earlier event of its key.
    pub fn assert_per_key_order(&self) {
        let d = self.deliveries.lock().unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut last: HashMap<Uuid, u64> = HashMap::new();
        for (id, key, seq) in d.iter() {
            if !seen.insert(*id) {
                continue;
            }
            let previous = last.insert(*key, *seq).unwrap_or(0);
            assert_eq!(
                *seq,
                previous + 1,
                "key {key}: event {seq} first delivered after event {previous}"
            );
        }
    }
}

/// `count` envelopes over `keys` tenants, numbered per tenant from 1.
pub fn numbered_events(count: usize, keys: usize) -> Vec<EventEnvelope<Numbered>> {
    let tenants: Vec<Uuid> = (0..keys).map(|_| Uuid::now_v7()).collect();
    let mut next = vec![0u64; keys];
    (0..count)
        .map(|i| {
            let k = i % keys;
            next[k] += 1;
            EventEnvelope::builder("test.numbered", tenants[k], Numbered { key_seq: next[k] })
                .build()
                .unwrap()
        })
        .collect()
}

/// Shuts every subscription down.
pub async fn shutdown_all(subscriptions: Vec<Subscription>) {
    for s in subscriptions {
        assert!(s.shutdown().await.unwrap().is_clean());
    }
}

pub fn recorder() -> Arc<Recorder> {
    Arc::new(Recorder::default())
}
