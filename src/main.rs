//! `powerbirth`: the command line. Everything it does lives in the library (`powerbirth::cli`).

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,sqlx=warn,perpetual=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = powerbirth::cli::Cli::parse();
    match powerbirth::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
