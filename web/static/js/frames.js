// Coalesces many updates into one paint per animation frame; a hidden tab skips painting until
// it is shown again.
export function oncePerFrame(render) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      render();
    });
  };
}
