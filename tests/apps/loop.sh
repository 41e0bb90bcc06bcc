# A bash script (no shebang, no exec bit needed: .sh runs with bash).
echo "bash $BASH_VERSION $$ $*"
while true; do sleep 1; done
