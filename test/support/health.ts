/** How a process's /health on 127.0.0.1:`port` answers; status undefined when it does not answer. */
export async function healthOf(port: number): Promise<{ status: number | undefined; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
  return { status: response?.status, body: (await response?.text()) ?? '' };
}
