// Preloaded (`node --import`) into the training children a worker starts, which it starts with an
// IPC channel. When the worker dies, even by SIGKILL, the operating system closes its end of the
// channel; the child then stops at once instead of training on for nobody (its last checkpoint is
// intact: checkpoints are written atomically). The training code itself is `metaquant train`'s.
if (process.channel) {
  process.channel.unref(); // the channel alone must not keep a finished child alive
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
}
export {};
