/**
 * A wake-up hint for the follower: an `eth_subscribe("newHeads")` WebSocket subscription that
 * calls `onBlock` when the node announces a block, so the follower syncs at once instead of at
 * its next scheduled run. It is only a hint: correctness comes from the cursor and polling.
 * Node's own WebSocket is used (not ethers' provider, which neither reconnects nor surfaces a
 * dead socket); the connection is re-opened with backoff whenever it drops.
 */
export interface NewHeadsHint {
  close(): void;
}

export function watchNewHeads(url: string, onBlock: () => void, onState?: (connected: boolean) => void): NewHeadsHint {
  let socket: WebSocket | undefined;
  let closed = false;
  let delay = 250;
  let timer: NodeJS.Timeout | undefined;

  const open = () => {
    if (closed) return;
    const ws = new WebSocket(url);
    socket = ws;
    ws.addEventListener('open', () => {
      delay = 250;
      onState?.(true);
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] }));
    });
    ws.addEventListener('message', (event) => {
      try {
        const message = JSON.parse(String(event.data)) as { method?: string };
        if (message.method === 'eth_subscription') onBlock();
      } catch {
        // Not JSON: ignore, the hint is best effort.
      }
    });
    ws.addEventListener('error', () => undefined);
    ws.addEventListener('close', () => {
      onState?.(false);
      if (closed) return;
      timer = setTimeout(open, delay);
      timer.unref();
      delay = Math.min(delay * 2, 10_000);
    });
  };
  open();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      socket?.close();
    },
  };
}
