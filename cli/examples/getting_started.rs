//! The example of `docs/getting-started.md` ("Publish and consume"), built
//! with the CLI's tests so the guide's code keeps compiling; a test checks
//! that the guide shows exactly this code after these lines.

use rustok_iggy::{handler_fn, EventEnvelope, HandlerError, Transport, TransportConfig};

#[derive(serde::Serialize, serde::Deserialize)]
struct OrderPlaced {
    order_id: u64,
}

#[tokio::main]
async fn main() -> rustok_iggy::Result<()> {
    // Plugin crates register at link time; these calls keep them linked.
    rustok_iggy_codecs::link();
    rustok_iggy_embedded::link();

    let config = TransportConfig::load(Some("rustok-iggy.toml".as_ref()))?;
    let transport = Transport::from_config(&config).await?;

    let subscription = transport
        .subscribe(
            "billing",
            &["events"],
            handler_fn(|e: EventEnvelope<OrderPlaced>| async move {
                println!("order {} for tenant {}", e.event.order_id, e.tenant_id);
                Ok::<(), HandlerError>(())
            }),
        )
        .await?;

    let tenant = uuid::Uuid::now_v7();
    let event =
        EventEnvelope::builder("order.placed", tenant, OrderPlaced { order_id: 1 }).build()?;
    transport.publish(&event).await?;

    tokio::signal::ctrl_c().await.ok();
    subscription.shutdown().await?;
    transport.shutdown().await?;
    Ok(())
}
