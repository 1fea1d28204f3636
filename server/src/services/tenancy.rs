//! Namespace onboarding: the form's choices and checks, submitting, reviewing, listing.

use domain::audit::{NewEvent, Outcome};
use domain::authz::{Action, Decision, Role, Target, decide};
use domain::identity::{CurrentUser, RequestOrigin};
use domain::page::{Cursor, Page};
use domain::tenancy::{
    self, DraftCheck, DraftContext, FieldError, Lifetime, NamespaceDraft, OnboardingChoices, Plan,
    RequestState, RequestView, SubmitOutcome,
};
use domain::tiers::{self, TierDraft, TierOutcome};

use super::{ServiceError, Services};
use crate::store::StoreError;
use crate::store::tenancy::{Decider, NewRequest, RequestRow};

fn new_request_id() -> String {
    format!("nr-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

fn forbidden(decision: Decision) -> Result<(), ServiceError> {
    match decision {
        Decision::Allow => Ok(()),
        Decision::Deny(why) => Err(ServiceError::Forbidden(why)),
    }
}

impl Services {
    pub async fn onboarding_choices(
        &self,
        user: &CurrentUser,
    ) -> Result<OnboardingChoices, ServiceError> {
        let mut lifetimes = Lifetime::ALL.to_vec();
        if self.tenancy().test_lifetime {
            lifetimes.push(Lifetime::Test);
        }
        let clusters = self
            .fleet()
            .summaries()
            .into_iter()
            .filter(|c| c.source != domain::fleet::ClusterSource::Registry || c.health.answering)
            .map(|c| tenancy::ClusterChoice {
                label: match (c.display_name.is_empty(), c.environment.is_empty()) {
                    (true, _) => c.name.clone(),
                    (false, true) => format!("{} ({})", c.display_name, c.name),
                    (false, false) => format!("{} ({}, {})", c.display_name, c.name, c.environment),
                },
                name: c.name,
            })
            .collect();
        Ok(OnboardingChoices {
            clusters,
            teams: user.teams.clone(),
            tiers: self.store().tiers().await?,
            lifetimes,
        })
    }

    /// Creates or changes a tier; admins only. Namespaces already made keep their quota until
    /// someone asks for a quota change.
    pub async fn save_tier(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: &TierDraft,
    ) -> Result<TierOutcome, ServiceError> {
        forbidden(decide(
            &user.actor(),
            Action::Administer,
            &Target::default(),
        ))?;
        let tier = match tiers::tier_from_draft(draft) {
            Ok(tier) => tier,
            Err(errors) => return Ok(TierOutcome::Invalid(errors)),
        };
        // Offered on clusters of the fleet only: a typo would offer it nowhere.
        let fleet = self.fleet().names();
        let strangers: Vec<&str> = tier
            .spec
            .clusters
            .iter()
            .filter(|c| !fleet.contains(c))
            .map(String::as_str)
            .collect();
        if !strangers.is_empty() {
            return Ok(TierOutcome::Invalid(vec![domain::tenancy::FieldError {
                field: "clusters".to_owned(),
                message: format!(
                    "not in the fleet: {} (the fleet: {})",
                    strangers.join(", "),
                    fleet.join(", ")
                ),
            }]));
        }
        let mut audit = NewEvent::by(Some(user), origin, "tier.save", Outcome::Success);
        audit.target_kind = "Tier".to_owned();
        audit.target_name = tier.name.clone();
        let created = self.store().save_tier(&tier, &user.id, audit).await?;
        Ok(TierOutcome::Saved {
            name: tier.name,
            created,
        })
    }

    /// Names and prefixes config reserves besides the built-in ones.
    fn reserved(&self) -> tenancy::Reserved<'_> {
        tenancy::Reserved {
            prefixes: &self.tenancy().reserved_prefixes,
            names: &self.tenancy().reserved_names,
        }
    }

    /// Whether a namespace of that name exists on `cluster` (a fleet name; empty: the home
    /// cluster) or a live request holds it there. Names are unique per cluster: the same name
    /// on two clusters is two namespaces. A cluster outside the fleet takes no name (validation
    /// refuses the cluster itself).
    async fn name_taken(&self, name: &str, cluster: &str) -> Result<bool, ServiceError> {
        if tenancy::check_name(name, self.reserved()).is_err() {
            // Not a name the API server would take a lookup for; validation says why.
            return Ok(false);
        }
        let home = self.fleet().home();
        let on_home = cluster.is_empty() || cluster == home.name();
        let cluster = if on_home { home.name() } else { cluster };
        if self.store().name_held(name, cluster, on_home).await? {
            return Ok(true);
        }
        let Some(member) = self
            .fleet()
            .members()
            .into_iter()
            .find(|m| m.name() == cluster)
        else {
            return Ok(false);
        };
        // From the watch cache: the form asks on every keystroke. A namespace made in the
        // instant since is caught by the provisioner, which never applies into one it did
        // not make. The home cluster's cache is waited for; another's is read as it stands,
        // so one down never stalls the form.
        if on_home {
            self.cached().await?;
        }
        let key = kube::runtime::reflector::ObjectRef::new(name);
        Ok(member.caches.namespaces.get(&key).is_some())
    }

    /// Field errors of a draft, and (when name, team, tier and lifetime are valid) the plan it
    /// becomes with `request_id` and `expires_at` as given.
    async fn examine(
        &self,
        user: &CurrentUser,
        draft: &NamespaceDraft,
        request_id: &str,
    ) -> Result<(Vec<FieldError>, Option<Plan>), ServiceError> {
        let tiers = self.store().tiers().await?;
        let taken = self.name_taken(&draft.name, &draft.cluster).await?;
        let clusters = self.fleet().names();
        let errors = tenancy::validate(
            draft,
            &DraftContext {
                user_teams: &user.teams,
                admin: user.roles.contains(&Role::Admin),
                tiers: &tiers,
                reserved: self.reserved(),
                taken: &|n| taken && n == draft.name,
                test_lifetime: self.tenancy().test_lifetime,
                clusters: &clusters,
            },
        );
        let blocking = errors
            .iter()
            .any(|e| matches!(e.field.as_str(), "name" | "team" | "tier" | "lifetime"));
        let plan = match tiers.iter().find(|t| t.name == draft.tier) {
            Some(tier) if !blocking => Some(Plan {
                request_id: request_id.to_owned(),
                draft: draft.clone(),
                requester: user.id.clone(),
                tier: tier.spec.clone(),
                expires_at: None,
            }),
            _ => None,
        };
        Ok((errors, plan))
    }

    /// What the form shows while someone types: field errors and the preview.
    pub async fn check_draft(
        &self,
        user: &CurrentUser,
        draft: &NamespaceDraft,
    ) -> Result<DraftCheck, ServiceError> {
        let (errors, plan) = self.examine(user, draft, "<assigned on submit>").await?;
        let needs_approval = plan.as_ref().is_some_and(|p| {
            Lifetime::parse(&p.draft.lifetime).is_some_and(|l| tenancy::needs_approval(&p.tier, l))
        });
        // The request id and the expiry are the two values fixed only on submit and grant.
        let preview = plan.map(|mut p| {
            p.expires_at = Lifetime::parse(&draft.lifetime)
                .filter(|l| l.seconds().is_some())
                .map(|l| format!("<{} after it is granted>", l.label()));
            tenancy::preview(&p)
        });
        Ok(DraftCheck {
            errors,
            preview,
            needs_approval,
        })
    }

    /// Stores the request with its audit event, approved at once when policy allows.
    pub async fn submit_namespace_request(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        draft: NamespaceDraft,
    ) -> Result<SubmitOutcome, ServiceError> {
        let actor = user.actor();
        let id = new_request_id();
        // Stored by name, so the request keeps its cluster whatever becomes the home one.
        let mut draft = draft;
        if draft.cluster.is_empty() {
            self.fleet().home().name().clone_into(&mut draft.cluster);
        }
        let (mut errors, plan) = self.examine(user, &draft, &id).await?;
        // Policy decides on the server; a foreign team is reported on its field.
        if let Decision::Deny(why) =
            decide(&actor, Action::RequestNamespace, &Target::team(&draft.team))
            && !errors.iter().any(|e| e.field == "team")
        {
            errors.push(FieldError {
                field: "team".to_owned(),
                message: why,
            });
        }
        let Some(plan) = plan.filter(|_| errors.is_empty()) else {
            return Ok(SubmitOutcome::Invalid(errors));
        };
        let lifetime = Lifetime::parse(&draft.lifetime)
            .ok_or_else(|| ServiceError::BadInput("unknown lifetime".to_owned()))?;
        let may_decide = decide(
            &actor,
            Action::DecideNamespaceRequest,
            &Target::team(&draft.team),
        )
        .allowed();
        let (state, decided_by, reason) = if !tenancy::needs_approval(&plan.tier, lifetime) {
            (
                RequestState::Approved,
                Some(Decider::policy()),
                Some(format!("tier {} needs no approval", draft.tier)),
            )
        } else if may_decide {
            (
                RequestState::Approved,
                Some(Decider::of(user)),
                Some(format!("requested by a manager of team {}", draft.team)),
            )
        } else {
            (RequestState::Pending, None, None)
        };
        let mut audit = NewEvent::by(Some(user), origin, "namespace.request", Outcome::Success)
            .on_cluster(&draft.cluster);
        audit.target_kind = "Namespace".to_owned();
        audit.target_namespace = draft.name.clone();
        audit.target_name = draft.name.clone();
        let stored = self
            .store()
            .create_namespace_request(
                NewRequest {
                    plan,
                    requester_name: user.display_name.clone(),
                    state,
                    expires_in_secs: if state == RequestState::Approved {
                        lifetime.seconds()
                    } else {
                        None
                    },
                    decided_by,
                    decision_reason: reason,
                },
                audit,
            )
            .await;
        match stored {
            Ok(row) => {
                if row.state == RequestState::Approved {
                    self.wake_provisioner();
                }
                Ok(SubmitOutcome::Submitted {
                    id: row.id,
                    state: row.state,
                })
            }
            Err(StoreError::Conflict(message)) => Ok(SubmitOutcome::Invalid(vec![FieldError {
                field: "name".to_owned(),
                message,
            }])),
            Err(other) => Err(other.into()),
        }
    }

    /// Requests `user` may see: everything for SREs and admins, else their teams' and their own.
    pub async fn namespace_requests(
        &self,
        user: &CurrentUser,
        after: Option<&Cursor>,
        limit: i64,
    ) -> Result<Page<RequestView>, ServiceError> {
        let rows = self
            .store()
            .namespace_requests(super::request_scope(user), &user.id, after, limit + 1)
            .await?;
        let actor = user.actor();
        Ok(Page::of(rows, limit, |row| row.cursor.clone()).map(|row| {
            let can_decide = row.state == RequestState::Pending
                && decide(
                    &actor,
                    Action::DecideNamespaceRequest,
                    &Target::team(&row.team),
                )
                .allowed();
            let can_download = row.state == RequestState::Ready
                && decide(&actor, Action::DownloadKubeconfig, &Target::team(&row.team)).allowed();
            let can_change = row.state == RequestState::Ready
                && decide(&actor, Action::RequestNamespace, &Target::team(&row.team)).allowed();
            view(
                row,
                self.fleet().home().name(),
                can_decide,
                can_download,
                can_change,
            )
        }))
    }

    /// Approves or denies a pending request.
    pub async fn decide_namespace_request(
        &self,
        user: &CurrentUser,
        origin: &RequestOrigin,
        id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<RequestView, ServiceError> {
        let reason = tenancy::decision_reason(reason, approve).map_err(ServiceError::BadInput)?;
        let reason = reason.as_str();
        let request = self
            .store()
            .namespace_request(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no namespace request {id}")))?;
        forbidden(decide(
            &user.actor(),
            Action::DecideNamespaceRequest,
            &Target::team(&request.team),
        ))?;
        let lifetime = Lifetime::parse(&request.plan.draft.lifetime).and_then(Lifetime::seconds);
        let action = if approve {
            "namespace.approve"
        } else {
            "namespace.deny"
        };
        let mut audit = NewEvent::by(Some(user), origin, action, Outcome::Success)
            .on_cluster(request.plan.draft.cluster_or(self.fleet().home().name()));
        audit.target_kind = "Namespace".to_owned();
        audit.target_namespace = request.name.clone();
        audit.target_name = request.name.clone();
        let decided = self
            .store()
            .decide_namespace_request(id, approve, &Decider::of(user), reason, lifetime, audit)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) => ServiceError::Conflict(m),
                other => other.into(),
            })?;
        if approve {
            self.wake_provisioner();
        }
        Ok(view(
            decided,
            self.fleet().home().name(),
            false,
            false,
            false,
        ))
    }
}

fn view(
    row: RequestRow,
    home: &str,
    can_decide: bool,
    can_download: bool,
    can_change: bool,
) -> RequestView {
    let cluster = row.plan.draft.cluster_or(home).to_owned();
    let extend_options = if row.plan.expires_at.is_some() {
        row.plan
            .tier
            .lifetimes
            .iter()
            .map(|l| l.as_str().to_owned())
            .collect()
    } else {
        Vec::new()
    };
    let expiry_warning = row
        .expires_at
        .as_deref()
        .filter(|_| row.state == RequestState::Ready)
        .and_then(|at| at.parse::<jiff::Timestamp>().ok())
        .and_then(|at| {
            tenancy::expiry_warning(at.as_second() - jiff::Timestamp::now().as_second())
        });
    RequestView {
        cluster,
        expiry_warning,
        preview: tenancy::preview(&row.plan),
        id: row.id,
        name: row.name,
        team: row.team,
        tier: row.plan.draft.tier.clone(),
        lifetime: row.plan.draft.lifetime.clone(),
        requester: row.requester_name,
        state: row.state,
        created_at: row.created_at,
        expires_at: row.expires_at,
        // People by name; rows from before names were kept, by id.
        decided_by: row.decided_by_name.or(row.decided_by),
        decision_reason: row.decision_reason,
        last_error: row.last_error,
        attempts: row.attempts,
        can_decide,
        can_download,
        can_change,
        extend_options,
    }
}
