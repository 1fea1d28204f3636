//! The `berth` binary as a library, so integration tests drive the real router and start-up.

pub mod auth;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod demo_history;
pub mod error;
pub mod http;
pub mod metrics;
pub mod plugin;
pub mod reconcile;
pub mod sandbox_cmd;
pub mod serve;
pub mod services;
pub mod store;
pub mod telemetry;

pub use error::Error;
