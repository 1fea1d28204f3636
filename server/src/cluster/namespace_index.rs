//! The names of a cache's objects by namespace, kept from the same watch events as the cache.
//!
//! A reflector store is one map over the whole cluster, so reading one namespace's pods meant
//! walking all 50,000 of them (a cache miss each): kube-apiserver answers a namespaced list from
//! its watch cache's namespace index and was faster than Berth for one workload's page. With
//! this index a page about a few namespaces looks up just their objects.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};

use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;

type Names = HashMap<String, BTreeSet<String>>;

#[derive(Default)]
struct Inner {
    live: Names,
    /// Filled during a re-list and swapped in when it ends, as the store itself does, so a
    /// re-list never shows a half-empty namespace.
    next: Option<Names>,
}

/// Namespace → names of the cached objects in it.
#[derive(Clone, Default)]
pub struct NamespaceIndex {
    inner: Arc<RwLock<Inner>>,
}

fn key<K: kube::Resource>(object: &K) -> Option<(String, String)> {
    let meta = object.meta();
    Some((meta.namespace.clone()?, meta.name.clone()?))
}

impl NamespaceIndex {
    /// Follows one watch event, after the store has.
    pub fn apply<K: kube::Resource>(&self, event: &Event<K>) {
        // A panic while holding the lock cannot leave the map half-changed in a way that
        // matters more than stale names, which lookups skip anyway.
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Apply(object) => {
                if let Some((ns, name)) = key(object) {
                    inner.live.entry(ns).or_default().insert(name);
                }
            }
            Event::Delete(object) => {
                if let Some((ns, name)) = key(object)
                    && let Some(names) = inner.live.get_mut(&ns)
                {
                    names.remove(&name);
                    if names.is_empty() {
                        inner.live.remove(&ns);
                    }
                }
            }
            Event::Init => inner.next = Some(Names::new()),
            Event::InitApply(object) => {
                if let Some((ns, name)) = key(object) {
                    let Inner { live, next } = &mut *inner;
                    next.as_mut()
                        .unwrap_or(live)
                        .entry(ns)
                        .or_default()
                        .insert(name);
                }
            }
            Event::InitDone => {
                if let Some(next) = inner.next.take() {
                    inner.live = next;
                }
            }
        }
    }

    /// The names in `namespace`.
    pub fn names(&self, namespace: &str) -> Vec<String> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .live
            .get(namespace)
            .map(|names| names.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The objects of `store` in `namespaces`: looked up by name when those are a small part
    /// of the namespaces that hold any (a team's, one namespace), else by one walk over the
    /// store, which is cheaper than a lookup per object when most of the cluster is asked for.
    pub fn select<K>(&self, store: &Store<K>, namespaces: &HashSet<&str>) -> Vec<Arc<K>>
    where
        K: kube::Resource<DynamicType = ()> + Clone + 'static,
    {
        let populated = self
            .inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .live
            .len();
        if namespaces.len() * 4 <= populated {
            self.objects(store, namespaces.iter().copied())
        } else {
            store.state_filter(|o| {
                o.meta()
                    .namespace
                    .as_deref()
                    .is_some_and(|ns| namespaces.contains(ns))
            })
        }
    }

    /// The objects of `store` in `namespaces`, looked up by name. A name the store no longer
    /// holds (deleted between the store's update and this index's) is skipped.
    pub fn objects<'a, K>(
        &self,
        store: &Store<K>,
        namespaces: impl IntoIterator<Item = &'a str>,
    ) -> Vec<Arc<K>>
    where
        K: kube::Resource<DynamicType = ()> + Clone + 'static,
    {
        namespaces
            .into_iter()
            .flat_map(|ns| {
                self.names(ns)
                    .into_iter()
                    .filter_map(move |name| store.get(&ObjectRef::new(&name).within(ns)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn object(ns: &str, name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                namespace: Some(ns.to_owned()),
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    #[test]
    fn follows_applies_and_deletes_by_namespace() {
        let index = NamespaceIndex::default();
        index.apply(&Event::Apply(object("a", "one")));
        index.apply(&Event::Apply(object("a", "two")));
        index.apply(&Event::Apply(object("b", "one")));
        index.apply(&Event::Apply(object("a", "one")));
        assert_eq!(index.names("a"), ["one", "two"]);
        index.apply(&Event::Delete(object("a", "one")));
        assert_eq!(index.names("a"), ["two"]);
        assert_eq!(index.names("b"), ["one"]);
        assert!(index.names("c").is_empty());
    }

    #[test]
    fn a_relist_replaces_everything_once_it_is_done() {
        let index = NamespaceIndex::default();
        index.apply(&Event::Apply(object("a", "gone")));
        index.apply(&Event::<ConfigMap>::Init);
        index.apply(&Event::InitApply(object("a", "kept")));
        // Until the re-list ends, the old names stand.
        assert_eq!(index.names("a"), ["gone"]);
        index.apply(&Event::<ConfigMap>::InitDone);
        assert_eq!(index.names("a"), ["kept"]);
    }

    #[test]
    fn objects_come_from_the_store_and_stale_names_are_skipped() {
        let (reader, mut writer) = kube::runtime::reflector::store::<ConfigMap>();
        let index = NamespaceIndex::default();
        for event in [
            Event::Apply(object("a", "one")),
            Event::Apply(object("b", "two")),
        ] {
            writer.apply_watcher_event(&event);
            index.apply(&event);
        }
        // Deleted from the store, not yet from the index.
        writer.apply_watcher_event(&Event::Delete(object("a", "one")));
        index.apply(&Event::Apply(object("a", "three")));
        let names = |objects: Vec<Arc<ConfigMap>>| -> Vec<String> {
            objects
                .iter()
                .filter_map(|o| o.metadata.name.clone())
                .collect()
        };
        assert!(names(index.objects(&reader, ["a"])).is_empty());
        assert_eq!(names(index.objects(&reader, ["a", "b"])), ["two"]);
    }

    #[test]
    fn select_gives_the_same_objects_by_lookup_or_by_walk() {
        let (reader, mut writer) = kube::runtime::reflector::store::<ConfigMap>();
        let index = NamespaceIndex::default();
        for n in 0..20 {
            let event = Event::Apply(object(&format!("ns-{n}"), &format!("cm-{n}")));
            writer.apply_watcher_event(&event);
            index.apply(&event);
        }
        let sorted = |objects: Vec<Arc<ConfigMap>>| -> Vec<String> {
            let mut names: Vec<String> = objects
                .iter()
                .filter_map(|o| o.metadata.name.clone())
                .collect();
            names.sort();
            names
        };
        // 2 of 20 namespaces: looked up; 15 of 20: walked.
        let few: HashSet<&str> = ["ns-3", "ns-7"].into();
        assert_eq!(sorted(index.select(&reader, &few)), ["cm-3", "cm-7"]);
        let names: Vec<String> = (0..15).map(|n| format!("ns-{n}")).collect();
        let most: HashSet<&str> = names.iter().map(String::as_str).collect();
        let mut want: Vec<String> = (0..15).map(|n| format!("cm-{n}")).collect();
        want.sort();
        assert_eq!(sorted(index.select(&reader, &most)), want);
    }
}
