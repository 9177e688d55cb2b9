// media.test.mjs — Node unit tests (node --test) of the Media menu's pure logic
// (frontend/src/media.js): image names (the server's rule, and a file name made into one),
// sizes as text, the upload check against max_bytes, GET /api/msd state → what the menu shows
// (attached, controls, the no-mass-storage note, view only), each action's request, which
// actions ask first, the dialog text and the result line (the API's `error` text).
// No browser needed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  POLL_MS,
  nameError,
  sanitizeName,
  formatSize,
  shortHash,
  uploadError,
  mediaModel,
  actionRequest,
  needsConfirm,
  confirmPrompt,
  resultLine,
} from '../../frontend/src/media.js';

const SHA = 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9';

test('nameError follows the server rule', () => {
  for (const ok of ['debian-12.iso', 'a', 'A_b.c-d', '9x', 'x'.repeat(128), 'a.b.c']) assert.equal(nameError(ok), null, ok);
  for (const bad of ['', '.hidden', '-x', '_x', 'a..b', 'a/b', 'a b', 'é.iso', 'x'.repeat(129), '..', 'a\\b']) {
    assert.ok(nameError(bad), JSON.stringify(bad));
  }
});

test('sanitizeName makes a valid name from any file name', () => {
  assert.equal(sanitizeName('debian-12.4.0-amd64-netinst.iso'), 'debian-12.4.0-amd64-netinst.iso');
  assert.equal(sanitizeName('My Disk (1).img'), 'My_Disk__1_.img');
  assert.equal(sanitizeName('café.iso'), 'caf_.iso');
  assert.equal(sanitizeName('.hidden.iso'), 'hidden.iso');
  assert.equal(sanitizeName('__x'), 'x');
  assert.equal(sanitizeName('a..b...iso'), 'a._b._.iso');
  assert.equal(sanitizeName(''), 'image');
  assert.equal(sanitizeName('¿?'), 'image');
  const long = sanitizeName(`${'y'.repeat(200)}.iso`);
  assert.equal(long.length, 128);
  assert.ok(long.endsWith('.iso'));
  for (const f of ['My Disk (1).img', 'a..b', '..', '.-.', `${'z'.repeat(300)}`, 'ü'.repeat(140), 'x.'.repeat(80)]) {
    assert.equal(nameError(sanitizeName(f)), null, f);
  }
});

test('formatSize uses binary units', () => {
  assert.equal(formatSize(0), '0 B');
  assert.equal(formatSize(1023), '1023 B');
  assert.equal(formatSize(1024), '1 KiB');
  assert.equal(formatSize(300 * 1024), '300 KiB');
  assert.equal(formatSize(1536), '1.5 KiB');
  assert.equal(formatSize(1 << 20), '1 MiB');
  assert.equal(formatSize(2.25 * 2 ** 20), '2.3 MiB');
  assert.equal(formatSize(8 * 2 ** 30), '8 GiB');
  assert.equal(formatSize(650 * 2 ** 20), '650 MiB');
  assert.equal(formatSize(-1), '?');
  assert.equal(formatSize(undefined), '?');
});

test('shortHash shows the first 16 hex digits', () => {
  assert.equal(shortHash(SHA), 'b94d27b9934d3e08');
  assert.equal(shortHash(null), '');
});

test('uploadError: name, size against max_bytes, an existing name', () => {
  const status = { enabled: false, images: [{ name: 'a.iso', size: 3, sha256: SHA }], uploads: [{ name: 'b.iso', received: 1 }], max_bytes: 1 << 20 };
  assert.equal(uploadError('c.iso', 1 << 20, status), null);
  assert.match(uploadError('c.iso', (1 << 20) + 1, status), /over the limit of 1 MiB \(1048576 bytes\)/);
  assert.match(uploadError('a.iso', 1, status), /a\.iso exists: delete it first/);
  assert.match(uploadError('b.iso', 1, status), /being uploaded/);
  assert.match(uploadError('.x', 1, status), /letters, digits/);
  assert.equal(uploadError('c.iso', 10, null), null); // no state yet: the server decides
});

test('mediaModel: images, attached and the controls', () => {
  const status = {
    enabled: true,
    images: [{ name: 'a.iso', size: 2048, sha256: SHA }, { name: 'b.img', size: 1 << 20, sha256: null }],
    attached: { name: 'a.iso', mode: 'cdrom' },
    uploads: [{ name: 'c.iso', received: 512 }],
    max_bytes: 8 * 2 ** 30,
  };
  const m = mediaModel(status);
  assert.equal(m.visible, true);
  assert.deepEqual(m.attached, { name: 'a.iso', mode: 'cdrom', label: 'CD-ROM' });
  assert.equal(m.maxText, '8 GiB');
  assert.equal(m.note, '');
  const [a, b] = m.images;
  assert.deepEqual(
    [a.name, a.size, a.short, a.sha256, a.attached, a.canEject, a.canDelete, a.canAttach],
    ['a.iso', '2 KiB', 'b94d27b9934d3e08', SHA, 'cdrom', true, false, false],
  );
  // One at a time: nothing else attaches while a.iso is attached; b can be deleted.
  assert.deepEqual([b.short, b.attached, b.canEject, b.canDelete, b.canAttach], ['', null, false, true, false]);
  assert.deepEqual(m.uploads, [{ name: 'c.iso', received: '512 B' }]);
  assert.equal(m.canUpload, true);

  const free = mediaModel({ ...status, attached: null });
  assert.equal(free.attached, null);
  assert.ok(free.images.every((i) => i.canAttach && i.canDelete && !i.canEject));
  assert.equal(mediaModel({ ...status, attached: { name: 'b.img', mode: 'disk' } }).attached.label, 'Disk');
});

test('mediaModel: no mass-storage function, view only, busy, no answer', () => {
  const status = { enabled: false, images: [{ name: 'a.iso', size: 1, sha256: SHA }], attached: null, uploads: [], max_bytes: 1 << 20 };
  const off = mediaModel(status);
  assert.match(off.note, /USB mass-storage function/);
  // Attach stays possible: the server's 404 says what is missing.
  assert.deepEqual([off.images[0].canAttach, off.images[0].canDelete, off.canUpload], [true, true, true]);
  const viewer = mediaModel(status, { viewOnly: true });
  assert.equal(viewer.viewOnly, true);
  assert.deepEqual([viewer.images[0].canDelete, viewer.canUpload], [false, false]);
  assert.equal(mediaModel(status, { uploading: true }).canUpload, false);
  assert.equal(mediaModel(status, { pending: true }).images[0].canDelete, false);
  const none = mediaModel(null);
  assert.deepEqual([none.visible, none.images, none.note], [false, [], '']);
});

test('actionRequest: attach, eject, delete', () => {
  assert.deepEqual(actionRequest({ kind: 'attach', name: 'a.iso', mode: 'cdrom' }), {
    method: 'POST',
    path: '/api/msd/attach',
    body: { name: 'a.iso', mode: 'cdrom' },
  });
  assert.deepEqual(actionRequest({ kind: 'eject' }), { method: 'POST', path: '/api/msd/eject', body: null });
  assert.deepEqual(actionRequest({ kind: 'delete', name: 'a.iso' }), { method: 'DELETE', path: '/api/msd/images/a.iso', body: null });
  assert.throws(() => actionRequest({ kind: 'attach', name: 'a', mode: 'floppy' }));
});

test('delete and attaching as a disk ask first; CD-ROM and eject do not', () => {
  assert.equal(needsConfirm({ kind: 'delete', name: 'a' }), true);
  assert.equal(needsConfirm({ kind: 'attach', name: 'a', mode: 'disk' }), true);
  assert.equal(needsConfirm({ kind: 'attach', name: 'a', mode: 'cdrom' }), false);
  assert.equal(needsConfirm({ kind: 'eject' }), false);
  assert.equal(confirmPrompt({ kind: 'delete', name: 'a.iso' }).title, 'Delete a.iso?');
  const disk = confirmPrompt({ kind: 'attach', name: 'a.iso', mode: 'disk' });
  assert.equal(disk.title, 'Attach a.iso as Disk?');
  assert.match(disk.text, /writable/);
});

test('resultLine: uploads, eject, the API error text', () => {
  assert.deepEqual(resultLine('a.iso', 201, { name: 'a.iso', size: 2048, sha256: SHA }), {
    ok: true,
    text: `a.iso: uploaded, 2 KiB, SHA-256 ${SHA}`,
  });
  assert.deepEqual(resultLine('Eject', 200, { ejected: { name: 'a.iso', mode: 'cdrom' } }), { ok: true, text: 'Ejected a.iso' });
  assert.deepEqual(resultLine('Eject', 200, { ejected: null }), { ok: true, text: 'Eject: nothing was attached' });
  assert.deepEqual(resultLine('Delete a.iso', 200, { ok: true }), { ok: true, text: 'Delete a.iso: done' });
  const msg = 'no USB mass-storage function: add "mass_storage" to the profile\'s [usb] functions';
  assert.deepEqual(resultLine('Attach a.iso as CD-ROM', 404, { error: msg }), { ok: false, text: `Attach a.iso as CD-ROM: ${msg}` });
  assert.deepEqual(resultLine('x', 413, null), { ok: false, text: 'x: HTTP 413' });
  assert.deepEqual(resultLine('x', 0, null), { ok: false, text: 'x: cannot reach the appliance' });
  assert.equal(POLL_MS, 2000);
});
