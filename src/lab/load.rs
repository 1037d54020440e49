//! The lab's load generator: steady checkout traffic to every shop, so rates, errors and latency
//! quantiles move the way they would under real users.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use super::shop::get;

/// Sends `per_second` checkouts to each port, at most `in_flight` outstanding per shop.
/// Dropping the returned set stops the load.
pub fn start(ports: &[u16], per_second: u32, in_flight: usize) -> JoinSet<()> {
    let mut set = JoinSet::new();
    let every = Duration::from_secs(1) / per_second.max(1);
    for &port in ports {
        set.spawn(async move {
            let permits = Arc::new(Semaphore::new(in_flight.max(1)));
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut requests = JoinSet::new();
            loop {
                tick.tick().await;
                // Reap finished requests so the set does not grow.
                while requests.try_join_next().is_some() {}
                // When the shop is slow, the load backs off instead of piling up.
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    continue;
                };
                requests.spawn(async move {
                    let _ = get(port, "/checkout").await;
                    drop(permit);
                });
            }
        });
    }
    set
}
