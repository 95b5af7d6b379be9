//! `GET /openapi.json` and `GET /`: the OpenAPI document, generated from the handlers'
//! annotations, and a page rendered from it on the server, which needs no script or network
//! (the reference's ReDoc page loads its script from a CDN).

use serde_json::Value;
use utoipa::OpenApi;
use utoipa::openapi::{ContactBuilder, OpenApi as Document};

use crate::settings::ApiSettings;
use crate::{blob, entities, operations, query};

/// The lakehouse routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        entities::ensure, entities::journal_bulk, entities::flush, query::entities, query::statements,
        entities::stats, entities::version, entities::delete_origin, entities::delete_entity, operations::run,
    ),
    components(schemas(query::QueryBody)),
    tags(
        (name = "datasets", description = "Datasets are ensured (created with a config.yml) on first use."),
        (name = "journal", description = "Statement rows wait in the journal until a flush."),
        (name = "entities", description = "Queries read the statement store: flush first to see journal writes."),
        (name = "operations", description = "Jobs run to the end; the answer is the final job record."),
    )
)]
struct Routes;

/// The OpenAPI document with the settings' title, description and contact.
pub fn document(settings: &ApiSettings) -> Document {
    let mut doc = Routes::openapi();
    doc.merge(blob::BlobDocs::openapi());
    doc.info.title.clone_from(&settings.title);
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc.info.description = (!settings.description.is_empty()).then(|| settings.description.clone());
    let [name, url, email] = settings.contact.clone();
    if name.is_some() || url.is_some() || email.is_some() {
        doc.info.contact = Some(ContactBuilder::new().name(name).url(url).email(email).build());
    }
    doc
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The docs page: every path and method with its summary, parameters, body and responses.
pub fn page(doc: &Value) -> String {
    let title = escape(doc["info"]["title"].as_str().unwrap_or_default());
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>\
         body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.4}}\
         code,pre{{background:#f4f4f4;padding:0 .2em}}h2{{border-top:1px solid #ccc;padding-top:.5em}}\
         .m{{font-weight:bold;text-transform:uppercase;margin-right:.5em}}</style></head><body>\
         <h1>{title}</h1><p>Version {}. The machine-readable document: <a href=\"openapi.json\">openapi.json</a>.</p>",
        escape(doc["info"]["version"].as_str().unwrap_or_default())
    );
    if let Some(tags) = doc["tags"].as_array() {
        html.push_str("<ul>");
        for tag in tags {
            let (name, text) =
                (tag["name"].as_str().unwrap_or_default(), tag["description"].as_str().unwrap_or_default());
            html.push_str(&format!("<li><b>{}</b>: {}</li>", escape(name), escape(text)));
        }
        html.push_str("</ul>");
    }
    let Some(paths) = doc["paths"].as_object() else {
        return html + "</body></html>";
    };
    for (path, item) in paths {
        let Some(methods) = item.as_object() else { continue };
        for (method, op) in methods {
            html.push_str(&format!(
                "<h2><span class=\"m\">{}</span><code>{}</code></h2>",
                escape(method),
                escape(path)
            ));
            for key in ["summary", "description"] {
                if let Some(text) = op[key].as_str() {
                    html.push_str(&format!("<p>{}</p>", escape(text)));
                }
            }
            if let Some(params) = op["parameters"].as_array() {
                html.push_str("<h3>Parameters</h3><ul>");
                for p in params {
                    html.push_str(&format!(
                        "<li><code>{}</code> ({}{}) {}</li>",
                        escape(p["name"].as_str().unwrap_or_default()),
                        escape(p["in"].as_str().unwrap_or_default()),
                        if p["required"].as_bool() == Some(true) { ", required" } else { "" },
                        escape(p["description"].as_str().unwrap_or_default())
                    ));
                }
                html.push_str("</ul>");
            }
            if let Some(content) = op["requestBody"]["content"].as_object() {
                let types: Vec<String> = content.keys().map(|k| format!("<code>{}</code>", escape(k))).collect();
                let text = escape(op["requestBody"]["description"].as_str().unwrap_or_default());
                html.push_str(&format!("<h3>Body</h3><p>{} {text}</p>", types.join(", ")));
            }
            if let Some(responses) = op["responses"].as_object() {
                html.push_str("<h3>Responses</h3><ul>");
                for (status, response) in responses {
                    let text = escape(response["description"].as_str().unwrap_or_default());
                    html.push_str(&format!("<li><b>{}</b> {text}</li>", escape(status)));
                }
                html.push_str("</ul>");
            }
        }
    }
    html + "</body></html>"
}
