//! Live pages: the quota event stream over real HTTP, fed by the watch caches of the sandbox.

mod common;

use std::time::Duration;

use common::flows::*;
use reqwest::header::COOKIE;

#[test]
fn quota_changes_reach_signed_in_listeners_and_shutdown_ends_the_stream() {
    common::run(async {
        let (_pg, app) = app().await;
        let anonymous = app.get("/api/v1/events/quota").await;
        assert_eq!(anonymous.status(), 401);

        let dana = sign_in(&app, "demo:dana").await;
        let mut res = app
            .client
            .get(app.url("/api/v1/events/quota"))
            .header(COOKIE, &dana)
            .send()
            .await
            .expect("stream");
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        // A namespace with its quota appears: the stream says so.
        submit(&app, &dana, &draft("payments-live", "payments", "small")).await;
        let first = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                let chunk = res.chunk().await.expect("chunk").expect("stream open");
                let text = String::from_utf8_lossy(&chunk).into_owned();
                if text.contains("event: quota") {
                    return text;
                }
            }
        })
        .await
        .expect("an event within 15 s");
        assert!(first.contains("data: "), "{first}");

        // Stopping the server with a listener attached ends the stream instead of hanging.
        tokio::time::timeout(Duration::from_secs(15), app.stop())
            .await
            .expect("stopped while a stream was open");
        let rest = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(Some(_)) = res.chunk().await {}
        })
        .await;
        assert!(rest.is_ok(), "the stream ended");
    });
}
