// Keyboard focus inside modal dialogs: Tab and Shift+Tab cycle through the dialog's controls
// and never reach the page behind it.

/** What Tab can reach. */
export const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * The index Tab (or Shift+Tab, `back`) moves to among `n` controls from index `i` (-1 when the
 * focus is on none of them): wrapping around at both ends.
 */
export function cycleFocus(i: number, n: number, back: boolean): number {
  if (n <= 0) return -1;
  if (i < 0) return back ? n - 1 : 0;
  return back ? (i - 1 + n) % n : (i + 1) % n;
}

/** The open traps, innermost last: only the innermost one acts. */
const traps: HTMLElement[][] = [];

/** Keeps Tab inside `root` until the returned function is called. */
export function trapFocus(root: HTMLElement): () => void {
  const me = [root];
  traps.push(me);
  const top = () => traps[traps.length - 1] === me;
  const items = () =>
    [...root.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => el.getClientRects().length > 0);
  const onKey = (e: KeyboardEvent) => {
    if (e.key !== 'Tab' || e.defaultPrevented || !top()) return;
    const list = items();
    e.preventDefault();
    const next = cycleFocus(list.indexOf(document.activeElement as HTMLElement), list.length, e.shiftKey);
    if (next >= 0) list[next].focus();
  };
  const onFocusIn = (e: FocusEvent) => {
    if (!top() || !(e.target instanceof Node) || root.contains(e.target)) return;
    const first = items()[0];
    if (first) first.focus();
  };
  // A focused control that re-renders away (a result list refreshing) leaves the focus on the
  // page's body: bring it back into the dialog.
  const lost = () => {
    const active = document.activeElement;
    if (top() && (!active || active === document.body)) items()[0]?.focus();
  };
  const mo = new MutationObserver(lost);
  mo.observe(root, { childList: true, subtree: true });
  const onFocusOut = () => setTimeout(lost, 0);
  root.addEventListener('focusout', onFocusOut);
  document.addEventListener('keydown', onKey, true);
  document.addEventListener('focusin', onFocusIn);
  return () => {
    mo.disconnect();
    root.removeEventListener('focusout', onFocusOut);
    document.removeEventListener('keydown', onKey, true);
    document.removeEventListener('focusin', onFocusIn);
    const i = traps.indexOf(me);
    if (i >= 0) traps.splice(i, 1);
  };
}
