//! Berth's integration tests, one binary: one link, one shared control plane (etcd,
//! kube-apiserver, controllers, node simulator) and a module per capability. Each test gets a
//! Postgres of its own and names of its own (namespaces, teams) on the shared cluster; the few
//! that take the cluster away or read cluster-wide figures start a private one.

mod common;

mod access;
mod audit_trail;
mod cli_startup;
mod cost;
mod deploy;
mod fleet;
mod hostile_input;
mod http_shell;
mod identity;
mod idle;
mod live_events;
mod metrics;
mod namespace_changes;
mod onboarding;
mod plugin;
mod prometheus;
mod replicas;
mod rest;
mod rollouts;
mod tiers;
mod usage;
