//! End to end in a real browser: headless Chromium driven through WebDriver (chromedriver, the
//! Debian packages `chromium` and `chromium-driver`; `scripts/install-browser.sh` installs
//! them). A nurse logs in through the page, opens the next item of a sampled batch, fills and
//! submits the form, and the review is in the database.
//!
//! With `POWERBIRTH_SCREENSHOTS=1` the test also saves the screenshots of `docs/review.md`
//! (login, batches, item, stats) into `docs/img/`.

use crate::common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Spawn, spawn_app_with};
use fantoccini::{Client, ClientBuilder, Locator};
use powerbirth::core::{new_id, now_ms};
use powerbirth::review::accounts::{Accounts, Email, Password, ReviewerRole};
use powerbirth::review::batches::Origin;
use powerbirth::review::sample::{SampleOptions, sample};
use powerbirth::store::Store;
use powerbirth::store::messages::{Exchange, MessageRecord, MessageRole};
use serde_json::json;
use sqlx::Row;

/// Debian's paths; `POWERBIRTH_CHROME` and `POWERBIRTH_CHROMEDRIVER` point elsewhere (a CI image
/// with Google Chrome preinstalled, say).
fn chromium() -> String {
    std::env::var("POWERBIRTH_CHROME").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

fn chromedriver() -> String {
    std::env::var("POWERBIRTH_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}
const PASSWORD: &str = "senha-muito-forte-1";

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    for tool in [chromium(), chromedriver()] {
        assert!(
            Path::new(&tool).exists(),
            "{tool} is missing: run scripts/install-browser.sh (installs Debian's chromium and chromium-driver)"
        );
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(chromedriver())
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    driver
}

/// A headless Chromium the size of a large phone, so the pages are seen as nurses see them.
async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=480,1100", "--lang=pt-BR"],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session with headless Chromium")
}

/// Saves a screenshot of the page for the docs, when asked to.
async fn screenshot(client: &Client, name: &str) {
    if std::env::var("POWERBIRTH_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let png = client.screenshot().await.unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/img");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("review-{name}.png")), png).unwrap();
    }
}

/// Three answered conversations from the last hours, one of them urgent.
async fn seed_conversations(store: &Store) {
    let now = now_ms();
    let talks = [
        (
            "Estou com 34 semanas, dor de cabeça forte e vendo pontinhos brilhando. É normal?",
            "Esses sinais precisam de avaliação hoje. Vá agora à maternidade ou ligue 192.",
            true,
        ),
        (
            "Posso tomar café na gravidez?",
            "Pode, com moderação: até duas xícaras por dia.",
            false,
        ),
        (
            "Quantas consultas de pré-natal devo fazer?",
            "O recomendado é pelo menos seis consultas, começando cedo.",
            false,
        ),
    ];
    let exchanges: Vec<Exchange> = talks
        .iter()
        .enumerate()
        .map(|(i, (question, answer, urgent))| {
            let conversation = new_id();
            let at = now - 3_600_000 + i as i64;
            let reference = "assistant-general@1;lang=pt-BR;persona=doula".to_string();
            let mut user = MessageRecord::new(&conversation, "r", MessageRole::User, question.to_string(), at);
            user.urgent = *urgent;
            user.prompt_ref = Some(reference.clone());
            if *urgent {
                user.guard = Some(
                    r#"{"categories":["red_flag"],"actions":["escalate"],"matched":["headache-visual"]}"#
                        .into(),
                );
            }
            let mut reply =
                MessageRecord::new(&conversation, "r", MessageRole::Assistant, answer.to_string(), at + 1);
            reply.model = Some("gpt-echo".into());
            reply.prompt_ref = Some(reference);
            reply.cost_usd = Some("0.000042".parse().unwrap());
            Exchange {
                conversation_id: conversation,
                key_id: "key-test".into(),
                at,
                messages: vec![user, reply],
            }
        })
        .collect();
    store.write_exchanges(&exchanges).await.unwrap();
}

async fn fill(client: &Client, css: &str, text: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits (up to 10 s) for an element of the next page; fails with the page shown instead.
async fn wait_for(client: &Client, css: &str) {
    if let Err(e) = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
    {
        panic!(
            "{css} did not appear ({e}); the page was:\n{}",
            client.source().await.unwrap_or_default()
        );
    }
}

async fn path_of(client: &Client) -> String {
    client.current_url().await.unwrap().path().to_string()
}

/// One nurse's whole visit in one browser session (login, next item, form, submit, stats,
/// logout, screenshots on the way); long because each step needs the session the previous one
/// left, and starting Chromium per step would cost seconds each.
#[tokio::test]
async fn a_nurse_reviews_the_next_item_from_a_real_browser() {
    let driver = start_driver();
    let app = spawn_app_with(Spawn {
        extra_toml: "[review]\nschedule = \"off\"\n".into(),
        ..Spawn::default()
    })
    .await;
    let nurse = Accounts::new(app.store.clone())
        .unwrap()
        .add(
            &Email::parse("ana@maternidade.org").unwrap(),
            ReviewerRole::Nurse,
            Password::parse(PASSWORD).unwrap(),
        )
        .await
        .unwrap();
    seed_conversations(&app.store).await;
    let batch = sample(
        &app.store,
        SampleOptions {
            n: 20,
            window: Duration::from_secs(7 * 86_400),
            seed: 7,
            now: now_ms(),
            origin: Origin::Cli,
            overlap: 0,
            period: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(batch.items.len(), 3);
    let urgent_item = batch.items[0].id.clone();
    assert!(batch.items[0].urgent, "urgent conversations come first");

    let client = browser(&driver).await;
    client.goto(&app.url("/review")).await.unwrap();
    assert_eq!(
        path_of(&client).await,
        "/review/login",
        "no session: the login page"
    );
    screenshot(&client, "login").await;
    fill(&client, "#email", "ana@maternidade.org").await;
    fill(&client, "#password", PASSWORD).await;
    click(&client, "button[type=submit]").await;
    wait_for(&client, "a[href^='/review/next']").await;
    assert_eq!(path_of(&client).await, "/review");
    let page = client.source().await.unwrap();
    assert!(page.contains("Lotes abertos") && page.contains("ana@maternidade.org"));
    screenshot(&client, "batches").await;

    click(
        &client,
        &format!("a[href='/review/next?batch={}']", batch.id),
    )
    .await;
    wait_for(&client, "#safety_problem").await;
    assert_eq!(
        path_of(&client).await,
        format!("/review/items/{urgent_item}")
    );
    let page = client.source().await.unwrap();
    assert!(
        page.contains("vendo pontinhos brilhando"),
        "the conversation is shown"
    );
    assert!(page.contains("URGENTE"));
    screenshot(&client, "item").await;

    click(&client, "input[name=clinical_accuracy][value='4']").await;
    click(&client, "input[name=tone][value='5']").await;
    client
        .find(Locator::Css("#safety_problem"))
        .await
        .unwrap()
        .select_by_value("none")
        .await
        .unwrap();
    click(&client, "input[name=should_escalate][value='yes']").await;
    fill(
        &client,
        "#comment",
        "Encaminhou bem; poderia citar o 192 antes.",
    )
    .await;
    fill(
        &client,
        "#corrected_answer",
        "Ligue 192 ou vá agora à maternidade: dor de cabeça forte com pontinhos é sinal de alerta.",
    )
    .await;
    click(
        &client,
        "form[action^='/review/items/'] button[type=submit]",
    )
    .await;
    assert_eq!(
        path_of(&client).await,
        format!("/review/items/{urgent_item}")
    );
    // A click returns once the form is sent; wait for the page the redirect leads to.
    wait_for(&client, "div.notice[role=status]").await;
    let page = client.source().await.unwrap();
    assert!(page.contains("Avaliação salva"), "the saved notice");

    let row = sqlx::query(
        "SELECT reviewer_id, clinical_accuracy, tone, safety_problem, should_escalate, comment, \
           corrected_answer FROM reviews WHERE item_id = $1",
    )
    .bind(&urgent_item)
    .fetch_one(app.store.pool())
    .await
    .expect("the review is stored");
    assert_eq!(row.get::<String, _>("reviewer_id"), nurse.id);
    assert_eq!(row.get::<i64, _>("clinical_accuracy"), 4);
    assert_eq!(row.get::<i64, _>("tone"), 5);
    assert_eq!(row.get::<String, _>("safety_problem"), "none");
    assert_eq!(row.get::<i64, _>("should_escalate"), 1);
    assert!(
        row.get::<String, _>("corrected_answer")
            .starts_with("Ligue 192")
    );

    client.goto(&app.url("/review/stats")).await.unwrap();
    assert!(
        client
            .source()
            .await
            .unwrap()
            .contains("Revisões por semana")
    );
    screenshot(&client, "stats").await;
    client.close().await.unwrap();
}
