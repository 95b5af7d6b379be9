//! `api`: the HTTP server over the lake of `LAKEHOUSE_URI` / `--uri`.

use anyhow::Result;
use lakehouse_api::{ApiSettings, Server, stop_signal};

use crate::cli::ApiArgs;
use crate::context::Context;

/// Serves until SIGTERM or Ctrl-C, then finishes the requests in flight.
pub async fn serve(ctx: &Context, args: &ApiArgs) -> Result<()> {
    let settings = ApiSettings::from_env()?;
    let addr = format!("{}:{}", args.host, args.port);
    let server = Server::bind(ctx.catalog.clone(), settings, &addr).await?;
    eprintln!("Serving {} on http://{}", ctx.catalog.root(), server.local_addr());
    server.run(stop_signal()).await?;
    eprintln!("Stopped.");
    Ok(())
}
