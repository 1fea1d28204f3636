//! Building blocks shared by the pages.

pub mod announce;
pub mod decide;
pub mod download;
pub mod layout;
pub mod live;
pub mod poll;
pub mod workload;
