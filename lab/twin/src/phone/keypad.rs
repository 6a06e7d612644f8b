//! The idle screen's keypad handling: the dial string, activation-code matching and the
//! `Auto-P now?` popup. Pure state, so every key rule is testable without a phone.

use super::model::Key;

/// The built-in activation code of Intermedia builds that carry `autop-reset`.
pub const AUTOP_CODE: &str = "**7283";
/// The popup text shown on a match (KB).
pub const AUTOP_POPUP: &str = "Auto-P now?";
/// The longest dial string the idle screen keeps; further digits are dropped.
const MAX_DIAL_LEN: usize = 32;

/// What a key press asks the phone to do beyond changing the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Yes on the Auto-P popup: call home now.
    StartAutoP,
}

/// Dial string and popup of the idle screen (RAM: lost at power-off).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Keypad {
    dial: String,
    popup: bool,
}

impl Keypad {
    /// Handles one key press. `code_offered` says whether `**7283` is an activation code
    /// right now (the firmware carries it and the phone shows `No Service`).
    pub fn press(&mut self, key: Key, code_offered: bool) -> Action {
        if self.popup {
            return match key {
                // Yes softkey, or OK.
                Key::F4 | Key::Ok => {
                    self.popup = false;
                    self.dial.clear();
                    Action::StartAutoP
                }
                // Cancel softkey, or the Cancel key.
                Key::F1 | Key::Cancel => {
                    self.popup = false;
                    self.dial.clear();
                    Action::None
                }
                _ => Action::None,
            };
        }
        if let Some(c) = key.dial_char() {
            if self.dial.len() < MAX_DIAL_LEN {
                self.dial.push(c);
            }
            if code_offered && self.dial == AUTOP_CODE {
                self.popup = true;
            }
        } else if key == Key::Cancel {
            self.dial.clear();
        }
        Action::None
    }

    /// The digits collected so far.
    pub fn dial_string(&self) -> &str {
        &self.dial
    }

    /// The popup on screen, if any.
    pub fn popup(&self) -> Option<&'static str> {
        self.popup.then_some(AUTOP_POPUP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dial(keypad: &mut Keypad, text: &str, offered: bool) {
        for c in text.chars() {
            let key = match c {
                '*' => Key::Star,
                '#' => Key::Pound,
                d => Key::Digit(d.to_digit(10).unwrap() as u8),
            };
            assert_eq!(keypad.press(key, offered), Action::None);
        }
    }

    #[test]
    fn the_code_raises_the_popup_and_yes_starts_auto_p() {
        let mut keypad = Keypad::default();
        dial(&mut keypad, "**7283", true);
        assert_eq!(keypad.popup(), Some("Auto-P now?"));
        assert_eq!(keypad.press(Key::Digit(1), true), Action::None);
        assert_eq!(keypad.press(Key::F4, true), Action::StartAutoP);
        assert_eq!(keypad.popup(), None);
        assert_eq!(keypad.dial_string(), "");
    }

    #[test]
    fn ok_is_yes_and_cancel_dismisses() {
        let mut keypad = Keypad::default();
        dial(&mut keypad, "**7283", true);
        assert_eq!(keypad.press(Key::Ok, true), Action::StartAutoP);
        dial(&mut keypad, "**7283", true);
        assert_eq!(keypad.press(Key::F1, true), Action::None);
        assert_eq!(keypad.popup(), None);
        assert_eq!(keypad.dial_string(), "");
    }

    #[test]
    fn without_the_code_the_digits_are_only_a_dial_string() {
        let mut keypad = Keypad::default();
        dial(&mut keypad, "**7283", false);
        assert_eq!(keypad.popup(), None);
        assert_eq!(keypad.dial_string(), "**7283");
        assert_eq!(keypad.press(Key::F4, false), Action::None);
        assert_eq!(keypad.press(Key::Cancel, false), Action::None);
        assert_eq!(keypad.dial_string(), "");
    }

    #[test]
    fn a_longer_string_does_not_match() {
        let mut keypad = Keypad::default();
        dial(&mut keypad, "1**7283", true);
        assert_eq!(keypad.popup(), None);
    }
}
