//! Live pages: the quota event stream over real HTTP, fed by the watch caches of the real control plane.

use crate::common;

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

/// A stream lives as long as its sign-in: signing out ends it at once. And each user holds a
/// few streams open, not thousands.
#[test]
fn a_stream_ends_with_its_session_and_each_user_holds_a_few() {
    common::run(async {
        let (_pg, app) = app().await;
        let open = |cookie: String| {
            app.client
                .get(app.url("/api/v1/events/quota"))
                .header(COOKIE, cookie)
                .send()
        };
        let dana = sign_in(&app, "demo:dana").await;
        let mut first = open(dana.clone()).await.expect("stream");
        assert_eq!(first.status(), 200);
        let mut more = Vec::new();
        for _ in 0..7 {
            let res = open(dana.clone()).await.expect("stream");
            assert_eq!(res.status(), 200);
            more.push(res);
        }
        let refused = open(dana.clone()).await.expect("stream");
        assert_eq!(refused.status(), 429);
        let body: serde_json::Value = refused.json().await.expect("json");
        assert_eq!(body["code"], "too_many_streams", "{body}");
        // Someone else's share is their own.
        let sam = sign_in(&app, "demo:sam").await;
        assert_eq!(open(sam).await.expect("stream").status(), 200);

        let signed_out = app
            .client
            .post(app.url("/auth/signout"))
            .header(COOKIE, &dana)
            .header(reqwest::header::ORIGIN, &app.base)
            .send()
            .await
            .expect("sign out");
        assert_eq!(signed_out.status(), 303);
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(Some(_)) = first.chunk().await {}
        })
        .await;
        assert!(ended.is_ok(), "the stream outlived the sign-out");
        app.stop().await;
    });
}
