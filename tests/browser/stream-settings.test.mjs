// stream-settings.test.mjs — Node unit tests (node --test) of the Stream menu's pure parts
// (frontend/src/stream-settings.js): the form from GET /api/stream, and the POST body from
// what was typed; and of the Jiggler toggle's look (frontend/src/jiggler.js). No browser
// needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formModel, changeFrom } from '../../frontend/src/stream-settings.js';
import { buttonModel } from '../../frontend/src/jiggler.js';

const VIEW = {
  h264_kbps: 2500,
  h264_kbps_applied: true,
  jpeg_quality: 80,
  limits: { h264_kbps: [100, 20000], jpeg_quality: [10, 100] },
};

test('formModel: the values and limits from the API; disabled for a viewer or without an answer', () => {
  const m = formModel(VIEW, false);
  assert.deepEqual(
    [m.h264, m.jpeg, m.h264Min, m.h264Max, m.jpegMin, m.jpegMax, m.disabled, m.note],
    ['2500', '80', 100, 20000, 10, 100, false, ''],
  );
  assert.equal(formModel(VIEW, true).disabled, true);
  assert.match(formModel(VIEW, true).note, /view only/);
  const none = formModel(null, false);
  assert.equal(none.disabled, true);
  assert.match(none.note, /could not be read/);
  assert.match(formModel({ ...VIEW, h264_kbps_applied: false }, false).note, /could not take/);
});

test('changeFrom: only what changed is sent; nothing changed is null', () => {
  assert.deepEqual(changeFrom('2500', '80', VIEW), { body: null });
  assert.deepEqual(changeFrom('1200', '80', VIEW), { body: { h264_kbps: 1200 } });
  assert.deepEqual(changeFrom(' 2500 ', '40', VIEW), { body: { jpeg_quality: 40 } });
  assert.deepEqual(changeFrom('600', '15', VIEW), { body: { h264_kbps: 600, jpeg_quality: 15 } });
  assert.deepEqual(changeFrom('', '15', VIEW), { body: { jpeg_quality: 15 } });
});

test('changeFrom: a value outside its range or not a whole number is named, nothing sent', () => {
  assert.match(changeFrom('50', '80', VIEW).error, /H\.264 kbit\/s must be a whole number from 100 to 20000/);
  assert.match(changeFrom('2500', '101', VIEW).error, /JPEG quality .* 10 to 100/);
  assert.match(changeFrom('2500', '7.5', VIEW).error, /JPEG quality/);
  assert.match(changeFrom('fast', '80', VIEW).error, /H\.264/);
  assert.equal(changeFrom('50', '80', VIEW).body, undefined);
});

test('jiggler buttonModel: on, off, unknown', () => {
  assert.deepEqual(
    [buttonModel({ enabled: true, interval_s: 60 }).text, buttonModel({ enabled: true, interval_s: 60 }).pressed],
    ['Jiggler: on', true],
  );
  assert.match(buttonModel({ enabled: true, interval_s: 90 }).title, /after 90 s without input/);
  assert.deepEqual(
    [buttonModel({ enabled: false, interval_s: 60 }).text, buttonModel({ enabled: false, interval_s: 60 }).pressed],
    ['Jiggler: off', false],
  );
  assert.equal(buttonModel(null).text, 'Jiggler: ?');
});
