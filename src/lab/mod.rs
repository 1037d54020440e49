//! The embedded demo lab: shops with fault knobs, a load generator, all on 127.0.0.1 in a temp dir.
//! The demo goes through the same code paths as production; only the hosts are local.

pub mod load;
pub mod shop;

use std::path::{Path, PathBuf};

use tokio::task::JoinSet;

use shop::Shop;

/// Checkouts per second the load generator sends to each shop.
pub const LOAD_PER_SECOND: u32 = 20;

pub struct Lab {
    pub dir: PathBuf,
    pub shops: Vec<Shop>,
    _load: JoinSet<()>,
}

impl Lab {
    /// Starts `n` shops (`shop-1`, `shop-2`, …), each with its own sandbox under `dir`, and the load.
    pub async fn start(dir: &Path, n: usize) -> std::io::Result<Lab> {
        let mut shops = Vec::with_capacity(n);
        for i in 1..=n {
            let name = format!("shop-{i}");
            let sandbox = dir.join(&name);
            shops.push(Shop::start(&name, &sandbox).await?);
        }
        let ports: Vec<u16> = shops.iter().map(|s| s.port).collect();
        let load = load::start(&ports, LOAD_PER_SECOND, 64);
        Ok(Lab {
            dir: dir.to_path_buf(),
            shops,
            _load: load,
        })
    }

    pub fn shop(&self, name: &str) -> Option<&Shop> {
        self.shops.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn load_reaches_every_shop_and_knobs_show_in_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::start(dir.path(), 2).await.unwrap();
        std::fs::write(lab.dir.join("shop-2/faults/error_pct"), "100").unwrap();
        // Bounded wait for traffic: real sockets, real time.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let seen = lab.shops.iter().all(|s| s.stats_total() >= 5);
            if seen || tokio::time::Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(
            lab.shops.iter().all(|s| s.stats_total() >= 5),
            "load reached every shop"
        );
        let (_, m1) = shop::get(lab.shop("shop-1").unwrap().port, "/metrics")
            .await
            .unwrap();
        let (_, m2) = shop::get(lab.shop("shop-2").unwrap().port, "/metrics")
            .await
            .unwrap();
        assert!(m1.contains("code=\"500\"} 0"), "{m1}");
        assert!(
            !m2.contains("code=\"500\"} 0"),
            "shop-2 serves errors: {m2}"
        );
    }
}
