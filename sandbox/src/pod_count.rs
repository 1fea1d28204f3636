//! Counting pods by phase without decoding them: metadata-only pages of 5,000, as benchmarks
//! and waits over the large scenario need (one whole list of 50,000 pods is gigabytes decoded).

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

/// How many pods match `field_selector` (e.g. `status.phase=Pending`), cluster-wide.
pub async fn count_pods(client: &kube::Client, field_selector: &str) -> Result<usize, kube::Error> {
    let api: Api<Pod> = Api::all(client.clone());
    let mut count = 0;
    let mut params = ListParams::default().fields(field_selector).limit(5_000);
    loop {
        let page = api.list_metadata(&params).await?;
        count += page.items.len();
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(count),
        }
    }
}
