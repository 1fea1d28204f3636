//! One module per screen.

pub mod access;
pub mod access_policy;
pub mod access_request;
pub mod audit;
pub mod clusters;
pub mod cost;
pub mod home;
pub mod home_persona;
pub mod idle;
pub mod me;
pub mod namespace_changes;
pub mod namespaces;
pub mod not_found;
pub mod onboarding;
pub mod prices;
pub mod rollouts;
pub mod signin;
pub mod tiers;
pub mod workload;
