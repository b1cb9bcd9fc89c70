import { describe, expect, it } from 'vitest';
import { initialState, Store, watchSelect } from '../src/lib/store';

const prefs = { theme: 'system', lang: 'auto', notify: true } as const;
const tick = () => new Promise<void>((r) => queueMicrotask(r));

describe('store subscriptions', () => {
  it('a change between the render and the subscription is not missed', async () => {
    const store = new Store(initialState({ ...prefs }));
    // What a component rendered: the boot splash.
    const ref = { current: { select: (s: ReturnType<Store['get']>) => s.phase, value: store.get().phase } };
    expect(ref.current.value).toBe('boot');
    // The server answered before the component's effect subscribed.
    store.set({ phase: 'login' });
    await tick();
    let renders = 0;
    watchSelect(store, ref, () => renders++);
    expect(renders).toBe(1);
  });

  it('re-renders on a later change of the selection only', async () => {
    const store = new Store(initialState({ ...prefs }));
    const ref = { current: { select: (s: ReturnType<Store['get']>) => s.phase, value: store.get().phase } };
    let renders = 0;
    const stop = watchSelect(store, ref, () => renders++);
    expect(renders).toBe(0);
    store.set({ conn: 'offline' });
    await tick();
    expect(renders).toBe(0);
    store.set({ phase: 'login' });
    await tick();
    expect(renders).toBe(1);
    stop();
    store.set({ phase: 'ready' });
    await tick();
    expect(renders).toBe(1);
  });
});
