//! One service per capability, wiring domain, cluster and store; together they implement the
//! UI's [`Backend`].

use app::backend::Backend;
use domain::health::Readiness;

use crate::cluster::Cluster;
use crate::store::Store;

/// Everything the HTTP layer and the server functions call.
#[derive(Clone, Debug)]
pub struct Services {
    store: Store,
    cluster: Cluster,
}

impl Services {
    pub fn new(store: Store, cluster: Cluster) -> Self {
        Services { store, cluster }
    }

    /// Postgres and the cluster, probed at the same time.
    pub async fn readiness(&self) -> Readiness {
        let (postgres, cluster) = tokio::join!(self.store.probe(), self.cluster.probe());
        Readiness::from_checks(vec![postgres, cluster])
    }
}

#[async_trait::async_trait]
impl Backend for Services {
    async fn readiness(&self) -> Readiness {
        Services::readiness(self).await
    }
}
