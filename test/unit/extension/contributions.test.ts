/**
 * package.json's promises for the features the extension code backs: the edit action shows only on
 * editable rows and only when the adapter declared the capability (context keys the tracker sets),
 * the operand page walk is in the editor's context menu while debugging, and the settings the
 * language client reads exist with the types it expects.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { CONTEXT_KEYS } from '../../../extension/debug/contextKeys';

const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8'));
const c = pkg.contributes;

describe('package.json contributions', () => {
  it('Edit Value shows inline on editable rows only when the adapter supports setVariable / writeMemory', () => {
    const items = (c.menus['view/item/context'] as { command: string; when: string; group: string }[]).filter((m) => m.command === 'kentry.editValue');
    assert.ok(items.some((m) => m.group === 'inline'), 'an inline (pencil) action');
    for (const m of items) {
      assert.ok(m.when.includes(`viewItem =~ /editable-variable/ && ${CONTEXT_KEYS.setVariable}`), m.when);
      assert.ok(m.when.includes(`viewItem =~ /editable-memory/ && ${CONTEXT_KEYS.writeMemory}`), m.when);
    }
    assert.ok((c.menus.commandPalette as { command: string; when: string }[]).some((m) => m.command === 'kentry.editValue' && m.when === 'false'), 'needs a row: not in the palette');
  });

  it('the operand page walk is in the kentry-asm editor\'s context menu while a kentry session runs', () => {
    const m = (c.menus['editor/context'] as { command: string; when: string }[]).find((x) => x.command === 'kentry.walkPageTablesAtCursor');
    assert.match(m?.when ?? '', /debugType == kentry/);
    assert.match(m?.when ?? '', /editorLangId == kentry-asm/);
  });

  it('declares the settings the language client reads', () => {
    const p = c.configuration.properties;
    assert.strictEqual(p['kentry.annotationNotes'].type, 'array');
    assert.strictEqual(p['kentry.kernel.version'].type, 'string');
    assert.strictEqual(p['kentry.kernel.config'].type, 'object');
  });
});
