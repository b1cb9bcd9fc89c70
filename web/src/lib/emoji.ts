// A compact emoji vocabulary: short names (Slack-style) for `:name:` in messages and for
// reactions stored by name, and the picker's palette.

export const EMOJI: Record<string, string> = {
  '+1': '👍', thumbsup: '👍', '-1': '👎', thumbsdown: '👎', ok_hand: '👌', clap: '👏', pray: '🙏',
  muscle: '💪', wave: '👋', raised_hands: '🙌', point_up: '☝️', v: '✌️', handshake: '🤝', eyes: '👀',
  heart: '❤️', orange_heart: '🧡', yellow_heart: '💛', green_heart: '💚', blue_heart: '💙', purple_heart: '💜',
  broken_heart: '💔', sparkles: '✨', star: '⭐', fire: '🔥', tada: '🎉', rocket: '🚀', '100': '💯',
  smile: '😄', smiley: '😃', grinning: '😀', grin: '😁', laughing: '😆', joy: '😂', rofl: '🤣', wink: '😉',
  blush: '😊', innocent: '😇', slightly_smiling_face: '🙂', upside_down_face: '🙃', heart_eyes: '😍',
  kissing_heart: '😘', yum: '😋', stuck_out_tongue: '😛', sunglasses: '😎', nerd_face: '🤓', thinking: '🤔',
  thinking_face: '🤔', neutral_face: '😐', expressionless: '😑', no_mouth: '😶', smirk: '😏', unamused: '😒',
  roll_eyes: '🙄', grimacing: '😬', relieved: '😌', pensive: '😔', sleepy: '😪', sleeping: '😴', mask: '😷',
  nauseated_face: '🤢', sneezing_face: '🤧', hot_face: '🥵', cold_face: '🥶', dizzy_face: '😵', cowboy_hat_face: '🤠',
  partying_face: '🥳', confused: '😕', worried: '😟', open_mouth: '😮', hushed: '😯', astonished: '😲',
  flushed: '😳', pleading_face: '🥺', cry: '😢', sob: '😭', scream: '😱', disappointed: '😞', sweat: '😓',
  weary: '😩', tired_face: '😫', triumph: '😤', rage: '😡', angry: '😠', skull: '💀', poop: '💩', clown_face: '🤡',
  ghost: '👻', alien: '👽', robot: '🤖', see_no_evil: '🙈', hear_no_evil: '🙉', speak_no_evil: '🙊',
  white_check_mark: '✅', heavy_check_mark: '✔️', x: '❌', warning: '⚠️', question: '❓', exclamation: '❗',
  bulb: '💡', memo: '📝', pushpin: '📌', paperclip: '📎', calendar: '📅', chart_with_upwards_trend: '📈',
  lock: '🔒', key: '🔑', bell: '🔔', mega: '📣', email: '📧', phone: '📱', computer: '💻', bug: '🐛',
  hammer: '🔨', wrench: '🔧', gear: '⚙️', package: '📦', coffee: '☕', tea: '🍵', beer: '🍺', cake: '🍰',
  pizza: '🍕', apple: '🍎', sun: '☀️', sunny: '☀️', cloud: '☁️', umbrella: '☔', snowflake: '❄️', zap: '⚡',
  rainbow: '🌈', earth_asia: '🌏', house: '🏠', office: '🏢', hospital: '🏥', school: '🏫', car: '🚗',
  airplane: '✈️', hourglass: '⌛', alarm_clock: '⏰', trophy: '🏆', medal: '🏅', gift: '🎁', balloon: '🎈',
  red_circle: '🔴', green_circle: '🟢', large_blue_circle: '🔵', white_circle: '⚪', black_circle: '⚫',
  arrow_right: '➡️', arrow_left: '⬅️', arrow_up: '⬆️', arrow_down: '⬇️', repeat: '🔁', hugs: '🤗',
  shushing_face: '🤫', money_mouth_face: '🤑', zipper_mouth_face: '🤐', melting_face: '🫠', saluting_face: '🫡',
  dog: '🐶', cat: '🐱', panda_face: '🐼', tiger: '🐯', monkey: '🐵', unicorn: '🦄', tulip: '🌷', seedling: '🌱',
};

/** The reactions offered first. */
export const QUICK_REACTIONS = ['👍', '❤️', '😄', '🎉', '👀', '🙏', '✅', '🔥'];

/** The picker's palette, by group. */
export const PALETTE: { group: string; emoji: string[] }[] = [
  {
    group: 'smileys',
    emoji: ['😀', '😃', '😄', '😁', '😆', '😂', '🤣', '😊', '😇', '🙂', '🙃', '😉', '😍', '😘', '😋', '😛', '😎', '🤓',
      '🤔', '🤗', '🤫', '😐', '😑', '😶', '😏', '😒', '🙄', '😬', '😌', '😔', '😴', '😷', '🥳', '😕', '😟', '😮',
      '😲', '😳', '🥺', '😢', '😭', '😱', '😞', '😓', '😩', '😤', '😡', '🤯', '🫠', '🫡'],
  },
  {
    group: 'people',
    emoji: ['👍', '👎', '👌', '👏', '🙏', '💪', '👋', '🙌', '☝️', '✌️', '🤝', '👀', '🧠', '🙈', '🙉', '🙊'],
  },
  {
    group: 'symbols',
    emoji: ['❤️', '🧡', '💛', '💚', '💙', '💜', '💔', '✨', '⭐', '🔥', '🎉', '🚀', '💯', '✅', '❌', '⚠️', '❓',
      '❗', '💡', '📌', '📝', '🔒', '🔔', '📣', '⚡', '🌈', '🏆', '🎁', '☕', '🍰', '🍕', '🐛'],
  },
];

/** The character for a reaction or short name as stored (`thumbsup`, `:thumbsup:` or `👍`). */
export function emojiChar(s: string): string {
  const name = s.startsWith(':') && s.endsWith(':') && s.length > 2 ? s.slice(1, -1) : s;
  return EMOJI[name] ?? (/^[a-z0-9_+-]+$/.test(name) ? `:${name}:` : s);
}

/** Short names starting with `prefix`, for autocomplete. */
export function searchEmoji(prefix: string, limit = 8): { name: string; char: string }[] {
  const p = prefix.toLowerCase();
  const out: { name: string; char: string }[] = [];
  const seen = new Set<string>();
  for (const [name, char] of Object.entries(EMOJI)) {
    if (name.startsWith(p) && !seen.has(char)) {
      seen.add(char);
      out.push({ name, char });
      if (out.length >= limit) break;
    }
  }
  return out;
}
