//! A pod's metrics from `metrics.k8s.io` as the usage sampler reads them: which pod, and each
//! container's CPU and memory as numbers. Read straight off the wire: as `DynamicObject`s (JSON
//! maps, with the pod's labels copied in) ten clusters' lists of 20,000 pods were hundreds of MB
//! for the moment of a pass.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(from = "wire::PodMetrics")]
pub struct PodUsage {
    /// Name and namespace (no labels or annotations).
    pub metadata: ObjectMeta,
    pub containers: Vec<ContainerUsage>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ContainerUsage {
    pub name: String,
    /// Cores.
    pub cpu: f64,
    /// Bytes.
    pub memory: f64,
}

namespaced_projection!(PodUsage, "PodMetrics", "metrics.k8s.io", "v1beta1", "pods");

mod wire {
    use super::*;

    #[derive(Deserialize)]
    pub struct PodMetrics {
        #[serde(default)]
        metadata: ObjectMeta,
        #[serde(default)]
        containers: Vec<Container>,
    }

    #[derive(Deserialize)]
    struct Container {
        name: String,
        #[serde(default)]
        usage: Usage,
    }

    #[derive(Default, Deserialize)]
    struct Usage {
        cpu: Option<String>,
        memory: Option<String>,
    }

    fn amount(q: Option<&String>) -> f64 {
        q.and_then(|q| domain::quantity::parse(q).ok())
            .unwrap_or(0.0)
    }

    impl From<PodMetrics> for PodUsage {
        fn from(m: PodMetrics) -> PodUsage {
            let mut metadata = m.metadata;
            metadata.labels = None;
            metadata.annotations = None;
            PodUsage {
                metadata,
                containers: m
                    .containers
                    .into_iter()
                    .map(|c| ContainerUsage {
                        cpu: amount(c.usage.cpu.as_ref()),
                        memory: amount(c.usage.memory.as_ref()),
                        name: c.name,
                    })
                    .collect(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_containers_cpu_and_memory_as_numbers() {
        let m: PodUsage = serde_json::from_value(serde_json::json!({
            "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
            "timestamp": "2026-12-05T10:00:00Z", "window": "30s",
            "containers": [
                {"name": "web", "usage": {"cpu": "250m", "memory": "64Mi"}},
                {"name": "proxy", "usage": {"cpu": "500000000n"}}
            ]
        }))
        .expect("metrics");
        assert_eq!(m.metadata.name.as_deref(), Some("web-1"));
        assert_eq!(m.metadata.labels, None);
        assert_eq!(
            m.containers,
            [
                ContainerUsage {
                    name: "web".to_owned(),
                    cpu: 0.25,
                    memory: 64.0 * 1024.0 * 1024.0
                },
                ContainerUsage {
                    name: "proxy".to_owned(),
                    cpu: 0.5,
                    memory: 0.0
                },
            ]
        );
    }
}
