// A Node app with no port: prints a line, then stays alive.
console.log('hello from node ' + process.pid + ' ' + process.argv.slice(2).join(' '));
setInterval(() => {}, 1000);
