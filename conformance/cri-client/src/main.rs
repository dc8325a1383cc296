//! cri-client: a thin crictl-like CLI for the Kubernetes CRI (v1) over a unix socket.
//!
//! Used by conformance/engines/engine-cri.sh to drive containerd's CRI plugin with
//! a runtime handler that runs the OCI runtime under test. Config files are the CRI
//! messages as JSON with the protobuf field names (`PodSandboxConfig`,
//! `ContainerConfig`); fields left out take their protobuf defaults, unknown fields
//! are an error. Errors: one line on stderr, exit status 1.

mod fill;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use clap::{Parser, Subcommand};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerConfig, ContainerState, CreateContainerRequest, ExecSyncRequest,
    ListContainersRequest, ListImagesRequest, ListPodSandboxRequest, PodSandboxConfig,
    PodSandboxState, PodSandboxStatusRequest, RemoveContainerRequest, RemovePodSandboxRequest,
    RunPodSandboxRequest, StartContainerRequest, StatusRequest, StopContainerRequest,
    StopPodSandboxRequest, VersionRequest,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

#[derive(Parser)]
#[command(
    name = "cri-client",
    version,
    about = "A thin crictl-like client for the Kubernetes CRI (v1)"
)]
struct Cli {
    /// CRI endpoint: a unix socket path (a unix:// prefix is accepted)
    #[arg(
        long,
        short = 'a',
        env = "CRI_ADDRESS",
        default_value = "/run/containerd/containerd.sock"
    )]
    address: String,
    /// Deadline of each request, in seconds
    #[arg(long, default_value_t = 60)]
    request_timeout: u64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Version of the runtime behind the endpoint
    Version,
    /// Runtime conditions and info (Status, verbose)
    Info,
    /// RunPodSandbox from a PodSandboxConfig JSON file; prints the pod sandbox id
    Runp {
        pod_config: PathBuf,
        /// Runtime handler (RuntimeClass handler) to run the pod with
        #[arg(long, short = 'r', default_value = "")]
        runtime: String,
    },
    /// CreateContainer in a pod from a ContainerConfig JSON file; prints the container id
    Create {
        pod_id: String,
        container_config: PathBuf,
        pod_config: PathBuf,
    },
    /// StartContainer
    Start { id: String },
    /// ContainerStatus (verbose) as JSON
    Inspect { id: String },
    /// PodSandboxStatus (verbose) as JSON
    Inspectp { pod_id: String },
    /// ExecSync: run CMD in the container, print its stdout/stderr, exit with its status
    ExecSync {
        id: String,
        /// Seconds the command may run (0: no limit)
        #[arg(long, default_value_t = 0)]
        timeout: i64,
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
    /// StopContainer (SIGTERM or the image's stop signal, SIGKILL after the timeout)
    Stop {
        id: String,
        #[arg(long, default_value_t = 10)]
        timeout: i64,
    },
    /// RemoveContainer
    Rm { id: String },
    /// StopPodSandbox
    Stopp { pod_id: String },
    /// RemovePodSandbox
    Rmp { pod_id: String },
    /// ListContainers: ID POD STATE NAME per line
    Ps {
        /// Only the ids
        #[arg(long, short)]
        quiet: bool,
        /// Only the containers of this pod sandbox
        #[arg(long, short)]
        pod: Option<String>,
    },
    /// ListPodSandbox: ID STATE NAMESPACE/NAME RUNTIME-HANDLER per line
    Pods {
        #[arg(long, short)]
        quiet: bool,
    },
    /// ListImages: one repo tag (or the id, if untagged) per line
    Images {
        /// Print the image ids too
        #[arg(long, short)]
        verbose: bool,
    },
}

async fn connect(address: &str, timeout: Duration) -> Result<Channel> {
    let path = PathBuf::from(address.strip_prefix("unix://").unwrap_or(address));
    // the URI is not used: every connection goes to the unix socket
    Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
        .with_context(|| format!("cannot connect to {address}"))
}

/// a gRPC error as one line: "CreateContainer: <message> (<code>)"
fn rpc<T>(what: &str, r: Result<tonic::Response<T>, tonic::Status>) -> Result<T> {
    r.map(tonic::Response::into_inner)
        .map_err(|s| anyhow!("{what}: {} ({:?})", s.message(), s.code()))
}

fn read_config<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    fill::from_value(v).with_context(|| format!("{}", path.display()))
}

/// `info` maps of verbose status replies hold JSON documents as strings: inline them
fn info_json(info: HashMap<String, String>) -> Value {
    info.into_iter()
        .map(|(k, v)| (k, serde_json::from_str(&v).unwrap_or(Value::String(v))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn print_json(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn container_state(s: i32) -> &'static str {
    ContainerState::try_from(s).map_or("UNKNOWN_STATE", |s| s.as_str_name())
}

fn pod_state(s: i32) -> &'static str {
    PodSandboxState::try_from(s).map_or("UNKNOWN_STATE", |s| s.as_str_name())
}

/// status JSON with the state enum by name ("CONTAINER_RUNNING", "SANDBOX_READY")
fn status_json<T: serde::Serialize>(
    status: Option<T>,
    name: fn(i32) -> &'static str,
) -> Result<Value> {
    let mut v = serde_json::to_value(status)?;
    if let Some(s) = v.get_mut("state") {
        if let Some(n) = s.as_i64() {
            *s = Value::String(name(n as i32).to_string());
        }
    }
    Ok(v)
}

async fn run(cli: Cli) -> Result<i32> {
    let ch = connect(&cli.address, Duration::from_secs(cli.request_timeout)).await?;
    let mut rt = RuntimeServiceClient::new(ch.clone());
    match cli.cmd {
        Cmd::Version => {
            let v = rpc(
                "Version",
                rt.version(VersionRequest {
                    version: "v1".into(),
                })
                .await,
            )?;
            println!("Version:  {}", v.version);
            println!("RuntimeName:  {}", v.runtime_name);
            println!("RuntimeVersion:  {}", v.runtime_version);
            println!("RuntimeApiVersion:  {}", v.runtime_api_version);
        }
        Cmd::Info => {
            let s = rpc("Status", rt.status(StatusRequest { verbose: true }).await)?;
            print_json(&serde_json::json!({"status": s.status, "info": info_json(s.info)}))?;
        }
        Cmd::Runp {
            pod_config,
            runtime,
        } => {
            let config: PodSandboxConfig = read_config(&pod_config)?;
            let req = RunPodSandboxRequest {
                config: Some(config),
                runtime_handler: runtime,
            };
            println!(
                "{}",
                rpc("RunPodSandbox", rt.run_pod_sandbox(req).await)?.pod_sandbox_id
            );
        }
        Cmd::Create {
            pod_id,
            container_config,
            pod_config,
        } => {
            let req = CreateContainerRequest {
                pod_sandbox_id: pod_id,
                config: Some(read_config::<ContainerConfig>(&container_config)?),
                sandbox_config: Some(read_config::<PodSandboxConfig>(&pod_config)?),
            };
            println!(
                "{}",
                rpc("CreateContainer", rt.create_container(req).await)?.container_id
            );
        }
        Cmd::Start { id } => {
            rpc(
                "StartContainer",
                rt.start_container(StartContainerRequest {
                    container_id: id.clone(),
                })
                .await,
            )?;
            println!("{id}");
        }
        Cmd::Inspect { id } => {
            let req = k8s_cri::v1::ContainerStatusRequest {
                container_id: id,
                verbose: true,
            };
            let r = rpc("ContainerStatus", rt.container_status(req).await)?;
            let status = status_json(r.status, container_state)?;
            print_json(&serde_json::json!({"status": status, "info": info_json(r.info)}))?;
        }
        Cmd::Inspectp { pod_id } => {
            let req = PodSandboxStatusRequest {
                pod_sandbox_id: pod_id,
                verbose: true,
            };
            let r = rpc("PodSandboxStatus", rt.pod_sandbox_status(req).await)?;
            let status = status_json(r.status, pod_state)?;
            print_json(&serde_json::json!({"status": status, "info": info_json(r.info)}))?;
        }
        Cmd::ExecSync { id, timeout, cmd } => {
            let req = ExecSyncRequest {
                container_id: id,
                cmd,
                timeout,
            };
            let r = rpc("ExecSync", rt.exec_sync(req).await)?;
            std::io::stdout().write_all(&r.stdout)?;
            std::io::stderr().write_all(&r.stderr)?;
            std::io::stdout().flush()?;
            // like a shell: a status that is 0 modulo 256 must not read as success
            return Ok(match r.exit_code {
                0 => 0,
                c if c % 256 == 0 => 255,
                c => c & 0xff,
            });
        }
        Cmd::Stop { id, timeout } => {
            let req = StopContainerRequest {
                container_id: id.clone(),
                timeout,
            };
            rpc("StopContainer", rt.stop_container(req).await)?;
            println!("{id}");
        }
        Cmd::Rm { id } => {
            let req = RemoveContainerRequest {
                container_id: id.clone(),
            };
            rpc("RemoveContainer", rt.remove_container(req).await)?;
            println!("{id}");
        }
        Cmd::Stopp { pod_id } => {
            let req = StopPodSandboxRequest {
                pod_sandbox_id: pod_id.clone(),
            };
            rpc("StopPodSandbox", rt.stop_pod_sandbox(req).await)?;
            println!("{pod_id}");
        }
        Cmd::Rmp { pod_id } => {
            let req = RemovePodSandboxRequest {
                pod_sandbox_id: pod_id.clone(),
            };
            rpc("RemovePodSandbox", rt.remove_pod_sandbox(req).await)?;
            println!("{pod_id}");
        }
        Cmd::Ps { quiet, pod } => {
            let filter = pod.map(|p| k8s_cri::v1::ContainerFilter {
                pod_sandbox_id: p,
                ..Default::default()
            });
            let r = rpc(
                "ListContainers",
                rt.list_containers(ListContainersRequest { filter }).await,
            )?;
            for c in r.containers {
                if quiet {
                    println!("{}", c.id);
                } else {
                    let name = c.metadata.map(|m| m.name).unwrap_or_default();
                    println!(
                        "{}\t{}\t{}\t{}",
                        c.id,
                        c.pod_sandbox_id,
                        container_state(c.state),
                        name
                    );
                }
            }
        }
        Cmd::Pods { quiet } => {
            let r = rpc(
                "ListPodSandbox",
                rt.list_pod_sandbox(ListPodSandboxRequest { filter: None })
                    .await,
            )?;
            for p in r.items {
                if quiet {
                    println!("{}", p.id);
                } else {
                    let m = p.metadata.unwrap_or_default();
                    let state = pod_state(p.state);
                    println!(
                        "{}\t{}\t{}/{}\t{}",
                        p.id, state, m.namespace, m.name, p.runtime_handler
                    );
                }
            }
        }
        Cmd::Images { verbose } => {
            let mut img = ImageServiceClient::new(ch);
            let r = rpc(
                "ListImages",
                img.list_images(ListImagesRequest { filter: None }).await,
            )?;
            for i in r.images {
                let names = if i.repo_tags.is_empty() {
                    vec![i.id.clone()]
                } else {
                    i.repo_tags
                };
                for n in names {
                    if verbose {
                        println!("{n}\t{}", i.id);
                    } else {
                        println!("{n}");
                    }
                }
            }
        }
    }
    Ok(0)
}

fn main() {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(cli)));
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("cri-client: {e:#}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    #[test]
    fn exec_sync_args_after_dashdash() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from([
            "cri-client",
            "exec-sync",
            "C",
            "--",
            "sh",
            "-c",
            "exit 3",
        ])
        .unwrap();
        match cli.cmd {
            super::Cmd::ExecSync { id, cmd, timeout } => {
                assert_eq!((id.as_str(), timeout), ("C", 0));
                assert_eq!(cmd, ["sh", "-c", "exit 3"]);
            }
            _ => panic!("wrong subcommand"),
        }
    }
}
