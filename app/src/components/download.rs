//! A file the server makes on a POST (a kubeconfig): fetched by the page, so a refusal or a
//! failure is said in words beside the button, and the app stays (a plain form post showed
//! the Problem's raw JSON in place of the whole app). Without script it is a plain form.

use leptos::prelude::*;

/// A button that downloads what `action` answers to a POST; `class` and `id` are the button's.
#[component]
pub fn Download(
    action: String,
    label: &'static str,
    #[prop(optional)] class: Option<&'static str>,
    #[prop(optional)] id: Option<&'static str>,
    #[prop(optional)] data_action: Option<&'static str>,
) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let url = action.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let url = url.clone();
        leptos::task::spawn_local(async move {
            error.set(fetch_file(&url).await.err());
            busy.set(false);
        });
    };
    view! {
        <form method="post" action=action class="inline-form download" on:submit=on_submit>
            <button
                class=class.unwrap_or("button")
                type="submit"
                id=id
                data-action=data_action
                aria-busy=move || busy.get().to_string()
            >
                {label}
            </button>
            {move || error.get().map(|e| view! { <span class="error download-error" role="alert">{e}</span> })}
        </form>
    }
}

/// POSTs `url` and saves the answer under the name its `Content-Disposition` gives; a refusal
/// comes back as the Problem's words.
#[cfg(feature = "hydrate")]
async fn fetch_file(url: &str) -> Result<(), String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    let unreachable = || "the server did not answer; try again".to_owned();
    let window = web_sys::window().ok_or_else(unreachable)?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| unreachable())?
        .dyn_into()
        .map_err(|_| unreachable())?;
    if !response.ok() {
        let status = response.status();
        let text = match response.text() {
            Ok(p) => JsFuture::from(p).await.ok().and_then(|t| t.as_string()),
            Err(_) => None,
        }
        .unwrap_or_default();
        return Err(crate::failure::problem_detail(&text)
            .unwrap_or_else(|| format!("the download failed (HTTP {status}); try again")));
    }
    let name = response
        .headers()
        .get("content-disposition")
        .ok()
        .flatten()
        .and_then(|d| {
            d.split("filename=")
                .nth(1)
                .map(|f| f.trim().trim_matches('"').to_owned())
        })
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "kubeconfig".to_owned());
    let blob: web_sys::Blob = JsFuture::from(response.blob().map_err(|_| unreachable())?)
        .await
        .map_err(|_| unreachable())?
        .dyn_into()
        .map_err(|_| unreachable())?;
    let href = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| unreachable())?;
    let anchor: web_sys::HtmlAnchorElement = document()
        .create_element("a")
        .map_err(|_| unreachable())?
        .dyn_into()
        .map_err(|_| unreachable())?;
    anchor.set_href(&href);
    anchor.set_download(&name);
    anchor.click();
    // Nothing to recover: an object URL left behind is freed with the page.
    let _ = web_sys::Url::revoke_object_url(&href);
    Ok(())
}

#[cfg(not(feature = "hydrate"))]
async fn fetch_file(_url: &str) -> Result<(), String> {
    Ok(())
}
