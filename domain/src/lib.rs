//! Pure logic and shared types of Berth: computed from values, never from I/O.
//!
//! Both the server and the hydrated UI depend on this crate, so it stays free of any async
//! runtime, database or cluster client.

pub mod areas;
pub mod audit;
pub mod audit_diff;
pub mod authz;
pub mod budget;
pub mod capacity;
pub mod change;
pub mod cost;
pub mod cost_lines;
pub mod cost_report;
pub mod cost_tally;
pub mod csv;
pub mod expiry;
pub mod failures;
pub mod findings;
pub mod fleet;
pub mod health;
pub mod hosts;
pub mod identity;
pub mod idle;
pub mod jit;
pub mod kubeconfig;
pub mod page;
pub mod quantity;
pub mod quota;
pub mod replacement;
pub mod rollout;
pub mod tenancy;
#[cfg(test)]
mod test_support;
pub mod text;
pub mod tiers;
pub mod unused;
pub mod version;
pub mod workload_detail;
pub mod yaml;
