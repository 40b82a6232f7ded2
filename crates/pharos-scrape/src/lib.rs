//! Scraping for the Prometheus-compatible server: `scrape_configs` parsing and validation,
//! relabeling, service discovery (static, file, HTTP, DNS), target population, and the scrape
//! loops that fetch, parse and store samples with Prometheus's semantics (report series,
//! staleness markers, limits, `honor_labels` / `honor_timestamps`).
//!
//! The server plugs in storage through [`ScrapeSink`] and reads target health for
//! `/api/v1/targets` from [`pool::PoolState`].

pub mod byte_size;
pub mod config;
pub mod discovery;
pub mod ingest;
pub mod label_name;
pub mod manager;
pub mod pool;
pub mod relabel;
pub mod scrape_cache;
pub mod scrape_error;
pub mod scrape_loop;
pub mod scraper;
pub mod sink;
pub mod target;
pub mod target_status;
mod unsupported_sd;

pub use byte_size::ByteSize;
pub use config::{
    accept_header, GlobalScrapeDefaults, ScrapeConfig, ScrapeConfigError, ScrapeProtocol,
};
pub use manager::{ScrapeManager, TargetsView};
pub use pool::{PoolOptions, PoolState, RunningPool, ScrapePool};
pub use relabel::{relabel, RelabelConfig};
pub use scrape_error::ScrapeError;
pub use scrape_loop::{ScrapeLoop, ScrapeReport};
pub use sink::{MemorySink, ScrapeSink, SinkError, SinkExemplar, SinkSample, SinkValue};
pub use target::Target;
pub use target_status::{ActiveTarget, DroppedTarget, Health};
