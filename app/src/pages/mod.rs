//! One module per screen.

pub mod audit;
pub mod cost;
pub mod home;
pub mod idle;
pub mod me;
pub mod namespace_changes;
pub mod namespaces;
pub mod not_found;
pub mod onboarding;
pub mod planned;
pub mod prices;
pub mod rollouts;
pub mod signin;
pub mod tiers;
pub mod workload;
