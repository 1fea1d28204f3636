//! Deletes answered with metadata only. The API server may answer a delete with the object as
//! it was (a claim held by a finalizer, a kind whose registry returns what it deleted; Secrets
//! answer with a Status today, but nothing promises it): asking for `PartialObjectMetadata`
//! keeps any contents out of Berth's memory, as the scan that found the object did.

use http::HeaderValue;
use http::header::ACCEPT;
use kube::api::DeleteParams;
use kube::core::NamespaceResourceScope;

use super::Cluster;

const METADATA_ONLY: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

impl Cluster {
    /// Deletes the namespaced `K` called `name`, with `params` (preconditions and all); the
    /// API server's errors (404, 409 for a failed precondition) come back as `kube::Error::Api`.
    pub async fn delete_namespaced<K>(
        &self,
        namespace: &str,
        name: &str,
        params: &DeleteParams,
    ) -> Result<(), kube::Error>
    where
        K: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        let path = K::url_path(&(), Some(namespace));
        let mut request = kube::core::Request::new(path)
            .delete(name, params)
            .map_err(kube::Error::BuildRequest)?;
        request
            .headers_mut()
            .insert(ACCEPT, HeaderValue::from_static(METADATA_ONLY));
        request.extensions_mut().insert("delete");
        self.client().request_text(request).await.map(drop)
    }
}
