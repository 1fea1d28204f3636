//! Cluster-wide lists for scans that run now and then (not watch caches): by metadata only
//! where metadata is all a scan reads, and in pages, so neither a Secret's data nor one giant
//! answer ever sits in Berth's memory.

use kube::api::{Api, ListParams};
use kube::core::PartialObjectMeta;

use super::Cluster;

/// Objects per page: the API server's answer stays small whatever the cluster's size.
const PAGE: u32 = 500;

impl Cluster {
    /// Every object of kind `K` matching `fields` (a field selector; empty: all), metadata only.
    pub async fn list_metadata<K>(
        &self,
        fields: &str,
    ) -> Result<Vec<PartialObjectMeta<K>>, kube::Error>
    where
        K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
    {
        let api = Api::<K>::all(self.client().clone());
        let mut params = ListParams::default().limit(PAGE);
        if !fields.is_empty() {
            params = params.fields(fields);
        }
        let mut out = Vec::new();
        loop {
            let page = api.list_metadata(&params).await?;
            out.extend(page.items);
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => return Ok(out),
            }
        }
    }
}
