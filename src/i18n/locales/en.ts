/** English messages: the reference catalog (its keys are the catalog's keys) and the fallback for every language. */
export const en = {
  'instruction.answer_in_language': 'Please answer in English.',
  'note.answering_in_english': 'I can only answer in Chinese or English, so I answered in English.',
  'error.image_too_large': 'That image is too large. Please send a smaller one.',
  'error.image_unreadable': 'I could not read that image. It may be damaged or incomplete; please send it again.',
  'error.unsupported_format': 'I cannot read that kind of file. Please send a JPEG, PNG, WebP or GIF image.',
  'error.empty_message': 'Your message is empty. Ask me something, with or without a picture.',
  'error.message_too_long': 'Your message is too long. Please shorten it and send it again.',
  'error.model_unavailable': 'The model is not available right now. Please try again in a few minutes.',
  'error.timeout': 'That took too long and was stopped. Please try again, perhaps with a shorter question.',
  'error.internal': 'Something went wrong on my side. Please try again.',
  'error.rate_limited': 'You are sending messages too quickly. Please wait a moment and try again.',
  'reset.done': 'Done: this conversation has been cleared. Send a new picture or question to start again.',
  'help.text':
    'Send me a picture and ask a question about it (in groups, mention me). Follow-up questions keep the context of this conversation.\nCommands: /reset (or /重置) clears this conversation; /help (or /帮助) shows this help.',
  'busy.queued': 'Your question is in the queue; I will answer as soon as I can.',
  'note.first_image_only': 'You sent {count} pictures; I looked at the first one only.',
  'note.empty_answer': '(I have no answer to that.)',
  'discord.not_allowed': 'I am not set up to answer here.',
  'demo.banner': 'Demo mode: this model has random weights, so its replies are not meaningful.',
  'web.title': 'Ziya-Visual chat',
  'web.channels': 'Channels',
  'web.add_channel': 'New channel',
  'web.channel_default_name': 'Channel {number}',
  'web.conversation': 'Conversation',
  'web.empty_conversation': 'Add a picture and ask a question about it to begin.',
  'web.you': 'You',
  'web.bot': 'Ziya',
  'web.message_label': 'Your question',
  'web.message_placeholder': 'Ask about the picture… (Enter sends, Shift+Enter adds a line)',
  'web.send': 'Send',
  'web.sending': 'Sending…',
  'web.attach_image': 'Add image',
  'web.remove_image': 'Remove image',
  'web.drop_hint': 'Drop an image here, paste one, or use “Add image”.',
  'web.image_attached': 'Image ready to send: {name}',
  'web.image_preview_alt': 'The image that will be sent',
  'web.sent_image_alt': 'Image sent with this question',
  'web.thinking': 'Thinking…',
  'web.reset': 'Reset conversation',
  'web.connection_lost': 'Connection lost. Reconnecting…',
  'web.send_failed': 'The message could not be sent. Please try again.',
  'web.not_an_image': 'That file is not an image.',
} as const;

/** A complete message catalog: every key of the English one. */
export type Catalog = { readonly [Key in keyof typeof en]: string };

/** Catalogs of languages the bot does not answer in carry only the note that says it answered in English. */
export type NoteCatalog = Pick<Catalog, 'note.answering_in_english'>;
