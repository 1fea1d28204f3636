//! Jobs (pods that run to completion; `completions`, `parallelism`, `backoffLimit`) and
//! CronJobs (a Job per schedule tick, with history limits).

use serde_json::{Value, json};

use super::apps::create_pod;
use super::{Context, flag_at, int_at, meta_str, now, owned_by, owner_reference, parse_time, rt};
use crate::status::ApiError;
use crate::store::{Part, Propagation};

pub fn job(ctx: &mut Context<'_>, ns: &str, name: &str) -> Result<(), ApiError> {
    let jobs = rt("batch", "jobs");
    let job = ctx.store.get(jobs, ns, name)?;
    if job.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(());
    }
    let finished = job
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
            })
        });
    if finished {
        return Ok(());
    }
    let completions = int_at(&job, "/spec/completions", 1);
    let parallelism = int_at(&job, "/spec/parallelism", 1);
    let backoff_limit = int_at(&job, "/spec/backoffLimit", 6);
    let suspended = flag_at(&job, "/spec/suspend", false);
    let all = ctx.store.list_in(rt("", "pods"), ns);
    let pods: Vec<&Value> = owned_by(&all, &job).collect();
    let phase = |p: &Value| {
        p.pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("Pending")
            .to_owned()
    };
    let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
    let failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i64;
    let mut active = pods
        .iter()
        .filter(|p| !matches!(phase(p).as_str(), "Succeeded" | "Failed"))
        .count() as i64;

    let mut conditions: Vec<Value> = Vec::new();
    let mut completion_time = None;
    if succeeded >= completions {
        let stamp = now();
        conditions.push(json!({"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": stamp, "lastTransitionTime": stamp}));
        conditions.push(json!({"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods", "lastProbeTime": stamp, "lastTransitionTime": stamp}));
        completion_time = Some(stamp);
    } else if failed > backoff_limit {
        let stamp = now();
        conditions.push(json!({"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": stamp, "lastTransitionTime": stamp}));
        conditions.push(json!({"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit", "lastProbeTime": stamp, "lastTransitionTime": stamp}));
        for pod in pods
            .iter()
            .filter(|p| !matches!(phase(p).as_str(), "Succeeded" | "Failed"))
        {
            let _ = ctx.store.delete(
                rt("", "pods"),
                ns,
                meta_str(pod, "name"),
                Propagation::Background,
                None,
                None,
            );
        }
        active = 0;
    } else if !suspended {
        let wanted = parallelism.min(completions - succeeded);
        while active < wanted {
            let mut with_labels = job.clone();
            let labels = &mut with_labels["spec"]["template"]["metadata"]["labels"];
            if !labels.is_object() {
                *labels = json!({});
            }
            labels["job-name"] = json!(name);
            labels["batch.kubernetes.io/job-name"] = json!(name);
            match create_pod(ctx, &with_labels, "Job", "batch/v1", None) {
                Ok(_) => active += 1,
                Err(e) => {
                    super::events::record(
                        ctx.store,
                        &job,
                        true,
                        "FailedCreate",
                        &format!("Error creating: {}", e.message),
                        "job-controller",
                    );
                    break;
                }
            }
        }
    }
    let mut status = json!({
        "active": active,
        "succeeded": succeeded,
        "failed": failed,
        "ready": 0,
        "startTime": job.pointer("/status/startTime").cloned().unwrap_or_else(|| json!(now())),
    });
    if !conditions.is_empty() {
        status["conditions"] = json!(conditions);
    }
    if let Some(t) = completion_time {
        status["completionTime"] = json!(t);
    }
    let mut previous = job.get("status").cloned().unwrap_or_else(|| json!({}));
    if let Some(o) = previous.as_object_mut() {
        o.remove("uncountedTerminatedPods");
    }
    if previous != status {
        ctx.store.modify(jobs, ns, name, Part::Status, |o| {
            o["status"] = status.clone();
            Ok(())
        })?;
    }
    Ok(())
}

/// One cron field ("*", "*/15", "1-5", "0,30", "10-50/10") against a value.
fn field_matches(field: &str, value: u32, min: u32, max: u32) -> bool {
    field.split(',').any(|part| {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().unwrap_or(1).max(1)),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (a.parse().unwrap_or(min), b.parse().unwrap_or(max))
        } else {
            let v = range.parse().unwrap_or(u32::MAX);
            (v, if part.contains('/') { max } else { v })
        };
        value >= lo && value <= hi && (value - lo).is_multiple_of(step)
    })
}

/// Whether a standard five-field schedule fires at this minute (UTC).
pub fn schedule_matches(schedule: &str, at: &jiff::civil::DateTime) -> bool {
    let schedule = match schedule.trim() {
        "@hourly" => "0 * * * *",
        "@daily" | "@midnight" => "0 0 * * *",
        "@weekly" => "0 0 * * 0",
        "@monthly" => "0 0 1 * *",
        "@yearly" | "@annually" => "0 0 1 1 *",
        other => other,
    };
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    let [minute, hour, day, month, weekday] = fields.as_slice() else {
        return false;
    };
    let dow = at.weekday().to_sunday_zero_offset();
    field_matches(minute, at.minute() as u32, 0, 59)
        && field_matches(hour, at.hour() as u32, 0, 23)
        && field_matches(day, at.day() as u32, 1, 31)
        && field_matches(month, at.month() as u32, 1, 12)
        && field_matches(weekday, dow as u32, 0, 6)
}

pub fn cronjob(ctx: &mut Context<'_>, ns: &str, name: &str) -> Result<(), ApiError> {
    let cronjobs = rt("batch", "cronjobs");
    let jobs_rt = rt("batch", "jobs");
    let cj = ctx.store.get(cronjobs, ns, name)?;
    if cj.pointer("/metadata/deletionTimestamp").is_some() {
        return Ok(());
    }
    let schedule = cj
        .pointer("/spec/schedule")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let suspended = flag_at(&cj, "/spec/suspend", false);
    let all_jobs = ctx.store.list_in(jobs_rt, ns);
    let mut owned: Vec<Value> = owned_by(&all_jobs, &cj).cloned().collect();
    let done = |j: &Value, kind: &str| {
        j.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == kind && c["status"] == "True")
            })
    };
    let since = cj
        .pointer("/status/lastScheduleTime")
        .and_then(Value::as_str)
        .or_else(|| {
            cj.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
        })
        .and_then(parse_time)
        .unwrap_or_else(jiff::Timestamp::now);
    let now_ts = jiff::Timestamp::now();
    // The latest scheduled minute in (since, now].
    let mut due: Option<jiff::Timestamp> = None;
    let mut minute = since.as_second() / 60 + 1;
    let last_minute = now_ts.as_second() / 60;
    if last_minute - minute > 1440 {
        minute = last_minute - 1440;
    }
    while minute <= last_minute {
        if let Ok(ts) = jiff::Timestamp::from_second(minute * 60) {
            let civil = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
            if schedule_matches(&schedule, &civil) {
                due = Some(ts);
            }
        }
        minute += 1;
    }
    let mut last_schedule = cj.pointer("/status/lastScheduleTime").cloned();
    if let (Some(at), false) = (due, suspended) {
        let running: Vec<&Value> = owned
            .iter()
            .filter(|j| !done(j, "Complete") && !done(j, "Failed"))
            .collect();
        let policy = cj
            .pointer("/spec/concurrencyPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Allow");
        let skip = policy == "Forbid" && !running.is_empty();
        if policy == "Replace" {
            for j in &running {
                let _ = ctx.store.delete(
                    jobs_rt,
                    ns,
                    meta_str(j, "name"),
                    Propagation::Background,
                    None,
                    None,
                );
            }
        }
        if !skip {
            let template = cj
                .pointer("/spec/jobTemplate")
                .cloned()
                .unwrap_or_else(|| json!({}));
            let mut metadata = template
                .get("metadata")
                .cloned()
                .unwrap_or_else(|| json!({}));
            metadata["name"] = json!(format!("{name}-{}", at.as_second() / 60));
            metadata["ownerReferences"] = json!([owner_reference("CronJob", "batch/v1", &cj)]);
            let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": template.get("spec").cloned().unwrap_or_else(|| json!({}))});
            match ctx.store.create(jobs_rt, ns, job) {
                Ok(created) => owned.push(created),
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        last_schedule = Some(json!(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()));
    }
    // History limits.
    for (kind, limit) in [
        (
            "Complete",
            int_at(&cj, "/spec/successfulJobsHistoryLimit", 3),
        ),
        ("Failed", int_at(&cj, "/spec/failedJobsHistoryLimit", 1)),
    ] {
        let mut finished: Vec<&Value> = owned.iter().filter(|j| done(j, kind)).collect();
        finished.sort_by_key(|j| meta_str(j, "creationTimestamp").to_owned());
        let excess = finished
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(0));
        for j in finished.into_iter().take(excess) {
            let _ = ctx.store.delete(
                jobs_rt,
                ns,
                meta_str(j, "name"),
                Propagation::Background,
                None,
                None,
            );
        }
    }
    let active: Vec<Value> = owned
        .iter()
        .filter(|j| !done(j, "Complete") && !done(j, "Failed"))
        .map(|j| json!({"kind": "Job", "namespace": ns, "name": meta_str(j, "name"), "uid": meta_str(j, "uid"), "apiVersion": "batch/v1"}))
        .collect();
    let mut status = json!({});
    if !active.is_empty() {
        status["active"] = json!(active);
    }
    if let Some(t) = last_schedule {
        status["lastScheduleTime"] = t;
    }
    if let Some(t) = owned
        .iter()
        .filter(|j| done(j, "Complete"))
        .filter_map(|j| j.pointer("/status/completionTime").cloned())
        .max_by_key(Value::to_string)
    {
        status["lastSuccessfulTime"] = t;
    }
    if cj.get("status").cloned().unwrap_or_else(|| json!({})) != status {
        ctx.store.modify(cronjobs, ns, name, Part::Status, |o| {
            o["status"] = status.clone();
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_fields() {
        let at = |s: &str| s.parse::<jiff::civil::DateTime>().expect("datetime");
        assert!(schedule_matches("*/15 * * * *", &at("2026-11-22T10:30:00")));
        assert!(!schedule_matches(
            "*/15 * * * *",
            &at("2026-11-22T10:31:00")
        ));
        assert!(schedule_matches("0 2 * * *", &at("2026-11-22T02:00:00")));
        assert!(
            schedule_matches("0 9 * * 1-5", &at("2026-11-23T09:00:00")),
            "a Monday"
        );
        assert!(
            !schedule_matches("0 9 * * 1-5", &at("2026-11-22T09:00:00")),
            "a Sunday"
        );
        assert!(schedule_matches("@hourly", &at("2026-11-22T07:00:00")));
        assert!(!schedule_matches("nonsense", &at("2026-11-22T07:00:00")));
    }
}
