import { describe, expect, it } from 'vitest';
import {
  cameBack,
  PASSIVE_START,
  type PassiveEvent,
  type PassiveHealth,
  passiveFailed,
  passiveStep,
  wentUnavailable,
} from './passive.js';

const limits = { maxFails: 2, failTimeoutMs: 10_000 };

/** Runs events from the start, each at its time; returns every state along the way. */
function run(events: ReadonlyArray<readonly [PassiveEvent, number]>, l = limits): PassiveHealth[] {
  const states = [PASSIVE_START];
  let s = PASSIVE_START;
  for (const [event, now] of events) {
    s = passiveStep(s, event, now, l);
    states.push(s);
  }
  return states;
}

describe('passive health (max_fails / fail_timeout) as a reducer', () => {
  it('returns the same state for a success that changes nothing, so the request path allocates nothing', () => {
    const selected = passiveStep(PASSIVE_START, 'select', 20_000, limits);
    expect(passiveStep(selected, 'succeed', 20_001, limits)).toBe(selected);
    expect(passiveStep(selected, 'select', 20_002, limits)).toBe(selected);
  });

  it('marks the peer checked when picked after fail_timeout, and not before', () => {
    const s = passiveStep(PASSIVE_START, 'select', 20_000, limits);
    expect(s).toEqual({ fails: 0, accessed: 0, checked: 20_000, probing: false });
    expect(passiveStep(s, 'select', 30_000, limits)).toBe(s);
    expect(passiveStep(s, 'select', 30_001, limits).checked).toBe(30_001);
  });

  it('fails the peer on reaching maxFails within fail_timeout, and frees it after', () => {
    const states = run([
      ['select', 20_000],
      ['fail', 20_100],
      ['select', 20_200],
      ['fail', 20_300],
    ]);
    const [, , one, , two] = states as PassiveHealth[];
    expect(wentUnavailable(states[1] as PassiveHealth, one as PassiveHealth, limits)).toBe(false);
    expect(wentUnavailable(states[3] as PassiveHealth, two as PassiveHealth, limits)).toBe(true);
    expect(two).toEqual({ fails: 2, accessed: 20_300, checked: 20_300, probing: false });
    expect(passiveFailed(two as PassiveHealth, 30_300, limits)).toBe(true);
    expect(passiveFailed(two as PassiveHealth, 30_301, limits)).toBe(false);
  });

  it('probes a rested peer: a failed probe makes it unavailable again, a success brings it back', () => {
    const failed = run([
      ['fail', 1_000],
      ['fail', 1_001],
    ]).at(-1) as PassiveHealth;
    const probe = passiveStep(failed, 'select', 11_002, limits);
    expect(probe).toEqual({ fails: 2, accessed: 1_001, checked: 11_002, probing: true });

    const again = passiveStep(probe, 'fail', 11_050, limits);
    expect(again.fails).toBe(3);
    expect(wentUnavailable(probe, again, limits)).toBe(true);
    expect(passiveFailed(again, 11_051, limits)).toBe(true);

    expect(cameBack(probe)).toBe(true);
    expect(passiveStep(probe, 'succeed', 11_050, limits)).toEqual({
      fails: 0,
      accessed: 1_001,
      checked: 11_002,
      probing: false,
    });
  });

  it('keeps the failures on a success that answered a request sent before the last failure', () => {
    const s = run([
      ['fail', 1_000],
      ['succeed', 1_000],
    ]).at(-1) as PassiveHealth;
    expect(s.fails).toBe(1);
    expect(cameBack(s)).toBe(false);
  });

  it('never fails a peer with maxFails 0', () => {
    const off = { maxFails: 0, failTimeoutMs: 10_000 };
    const states = run(
      [
        ['fail', 1],
        ['fail', 2],
        ['fail', 3],
        ['select', 20_000],
      ],
      off,
    );
    for (let i = 1; i < states.length; i++) {
      expect(wentUnavailable(states[i - 1] as PassiveHealth, states[i] as PassiveHealth, off)).toBe(false);
      expect(passiveFailed(states[i] as PassiveHealth, 3, off)).toBe(false);
    }
    expect((states.at(-1) as PassiveHealth).probing).toBe(false);
  });
});

describe('passive health: the edges of each rule', () => {
  it('starts as a peer that never failed and is not being probed', () => {
    expect(PASSIVE_START).toEqual({ fails: 0, accessed: 0, checked: 0, probing: false });
    expect(passiveStep(PASSIVE_START, 'succeed', 5, limits)).toBe(PASSIVE_START);
    expect(cameBack(PASSIVE_START)).toBe(false);
  });

  it('clears failures below maxFails on a success after a pick past fail_timeout', () => {
    // nginx ngx_http_upstream_free_round_robin_peer: `if (accessed < checked) fails = 0`.
    const once = passiveStep(PASSIVE_START, 'fail', 1_000, limits);
    const picked = passiveStep(once, 'select', 20_000, limits);
    expect(picked).toEqual({ fails: 1, accessed: 1_000, checked: 20_000, probing: false });
    expect(passiveStep(picked, 'succeed', 20_001, limits)).toEqual({
      fails: 0,
      accessed: 1_000,
      checked: 20_000,
      probing: false,
    });
    // Not a probe: the peer never stopped taking requests, so it did not come back.
    expect(cameBack(picked)).toBe(false);
  });

  it('does not fail a peer below maxFails, however recent its failure', () => {
    const once = passiveStep(PASSIVE_START, 'fail', 1_000, limits);
    expect(passiveFailed(once, 1_000, limits)).toBe(false);
    expect(passiveFailed(passiveStep(once, 'fail', 1_001, limits), 1_001, limits)).toBe(true);
  });

  it('reports a peer unavailable once, when its failures reach maxFails, not on later failures', () => {
    const one = passiveStep(PASSIVE_START, 'fail', 1_000, limits);
    const two = passiveStep(one, 'fail', 1_001, limits);
    const three = passiveStep(two, 'fail', 1_002, limits);
    expect(wentUnavailable(one, two, limits)).toBe(true);
    expect(wentUnavailable(two, three, limits)).toBe(false);
    // Nothing failed between the two states: nothing went unavailable.
    expect(wentUnavailable(two, two, limits)).toBe(false);
    expect(wentUnavailable(two, passiveStep(two, 'succeed', 1_003, limits), limits)).toBe(false);
  });

  it('never reports a peer unavailable once max_fails is 0, even one probed before it was switched off', () => {
    const probing: PassiveHealth = { fails: 2, accessed: 1_000, checked: 20_000, probing: true };
    const failed = passiveStep(probing, 'fail', 20_001, limits);
    expect(wentUnavailable(probing, failed, limits)).toBe(true);
    const off = { maxFails: 0, failTimeoutMs: 10_000 };
    expect(wentUnavailable(probing, failed, off)).toBe(false);
    expect(passiveFailed(failed, 20_001, off)).toBe(false);
  });
});
