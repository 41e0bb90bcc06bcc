// The apps of examples/Dockerfile and examples/kubernetes.yaml: hello.js on
// every CPU the container may use (its cgroup quota, not the host's cores).
module.exports = {
  apps: [{
    name: 'hello',
    script: './hello.js',
    instances: 'max',
    exec_mode: 'cluster',
    env: {PORT: 3000},
    kill_timeout: 5000,      // time to finish in-flight requests on SIGINT
  }],
};
